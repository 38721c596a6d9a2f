"""Reading uploaded objects from S3: their metadata, a streamed fingerprint, and a
streamed text view. Never holds a whole object in memory."""

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from botocore.exceptions import ClientError

from pipeline import clients
from pipeline.errors import UploadNotFoundError

CHUNK_BYTES = 1024 * 1024
# 404s for a missing key or version; 405 when the version is a delete marker.
_GONE = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "405", "MethodNotAllowed"}


@dataclass(frozen=True)
class ObjectHead:
    bucket: str
    key: str
    version_id: str | None  # None for an object of an unversioned bucket
    size: int
    etag: str
    content_type: str | None
    last_modified: datetime


def _version_args(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _not_found(
    error: ClientError, bucket: str, key: str, version_id: str | None
) -> UploadNotFoundError | None:
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code not in _GONE:
        return None
    version = f" version {version_id}" if version_id else ""
    return UploadNotFoundError(f"s3://{bucket}/{key}{version} does not exist (S3 answered {code})")


def head(bucket: str, key: str, version_id: str | None = None) -> ObjectHead:
    try:
        response = clients.s3().head_object(Bucket=bucket, Key=key, **_version_args(version_id))
    except ClientError as error:
        missing = _not_found(error, bucket, key, version_id)
        if missing is None:
            raise
        raise missing from error
    version = response.get("VersionId")
    return ObjectHead(
        bucket=bucket,
        key=key,
        version_id=None if version in (None, "null") else version,
        size=response["ContentLength"],
        etag=response["ETag"].strip('"'),
        content_type=response.get("ContentType"),
        last_modified=response["LastModified"],
    )


def _body(bucket: str, key: str, version_id: str | None) -> Any:
    try:
        response = clients.s3().get_object(Bucket=bucket, Key=key, **_version_args(version_id))
    except ClientError as error:
        missing = _not_found(error, bucket, key, version_id)
        if missing is None:
            raise
        raise missing from error
    return response["Body"]


def sha256(bucket: str, key: str, version_id: str | None = None) -> tuple[str, int]:
    """The SHA-256 (hex) and length of the object, read once in chunks."""
    digest = hashlib.sha256()
    size = 0
    body = _body(bucket, key, version_id)
    try:
        for chunk in body.iter_chunks(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    finally:
        body.close()
    return digest.hexdigest(), size


@contextmanager
def open_text(bucket: str, key: str, version_id: str | None = None) -> Iterator[TextIO]:
    """The object as a stream of UTF-8 text (a byte-order mark is skipped), decoded as
    it is read. `newline=""` leaves line endings to the csv module, as it requires."""
    body = _body(bucket, key, version_id)
    text = io.TextIOWrapper(body, encoding="utf-8-sig", errors="strict", newline="")
    try:
        yield text
    finally:
        text.close()
