"""The upload stage: check each new object an S3 notification names, fingerprint it, and
say what the process stage should work on."""

import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath

from pipeline import objects
from pipeline.errors import EmptyUploadError, UnsupportedFormatError, UploadTooLargeError
from pipeline.events import S3EventNotification, S3EventRecord
from pipeline.models import AcceptedUpload, UploadFormat, UploadResult
from pipeline.observability import UPLOADS_ACCEPTED, bind_upload, count, logger, tracer
from pipeline.settings import get_settings

FORMAT_BY_EXTENSION: dict[str, UploadFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FORMAT_BY_CONTENT_TYPE: dict[str, UploadFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
}

# Fixed namespace of the pipeline's upload ids (uuid5): never change it, or every id changes.
UPLOAD_ID_NAMESPACE = uuid.UUID("6f1c0f5e-3a57-4d0b-9a51-5b0f4f8e2c11")


def upload_id_for(bucket: str, key: str, version: str) -> str:
    return str(uuid.uuid5(UPLOAD_ID_NAMESPACE, f"s3://{bucket}/{key}?version={version}"))


def detect_format(key: str, content_type: str | None) -> UploadFormat:
    """The extension decides; the content type only when the extension says nothing."""
    extension = PurePosixPath(key).suffix.lower()
    if extension in FORMAT_BY_EXTENSION:
        return FORMAT_BY_EXTENSION[extension]
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in FORMAT_BY_CONTENT_TYPE:
        return FORMAT_BY_CONTENT_TYPE[media_type]
    raise UnsupportedFormatError(
        f"{key!r} (content type {content_type!r}) is neither CSV nor JSON Lines: use a key ending in "
        f"{', '.join(FORMAT_BY_EXTENSION)} or one of the content types {', '.join(FORMAT_BY_CONTENT_TYPE)}"
    )


@tracer.capture_method(capture_response=False)
def accept_upload(record: S3EventRecord, *, max_bytes: int) -> AcceptedUpload:
    bucket, key = record.bucket, record.key
    head = objects.head(bucket, key, record.version_id)
    # The version read is the one the upload id names. Without versioning there is
    # none; the ETag then tells contents apart.
    version_id = record.version_id or head.version_id
    upload_id = upload_id_for(bucket, key, version_id or f"etag:{head.etag}")
    bind_upload(upload_id, correlation_id=upload_id)

    if head.size == 0:
        raise EmptyUploadError(f"s3://{bucket}/{key} is empty (0 bytes)")
    if head.size > max_bytes:
        raise UploadTooLargeError(
            f"s3://{bucket}/{key} is {head.size} bytes, "
            f"over the limit of {max_bytes} bytes (MAX_UPLOAD_BYTES)"
        )
    # Every check above needs only the HEAD: a failure that a retry cannot change costs
    # no read of the object, however often Lambda retries it.
    upload_format = detect_format(key, head.content_type)
    digest, size = objects.sha256(bucket, key, version_id)

    upload = AcceptedUpload(
        upload_id=upload_id,
        correlation_id=upload_id,
        bucket=bucket,
        key=key,
        version_id=version_id,
        etag=head.etag,
        size=size,
        sha256=digest,
        format=upload_format,
        content_type=head.content_type,
        event_name=record.event_name,
        event_time=record.event_time,
        received_at=datetime.now(UTC),
    )
    count(UPLOADS_ACCEPTED)
    logger.info(
        "upload accepted",
        extra={"bucket": bucket, "key": key, "version_id": version_id, "size": size, "format": upload_format},
    )
    return upload


def accept_uploads(notification: S3EventNotification) -> UploadResult:
    """Check every created object of the notification; the first failing check fails the
    invocation (and with it the whole notification, which Lambda retries)."""
    if notification.test_event:
        logger.info("S3 test event ignored", extra={"event": notification.test_event})
    max_bytes = get_settings().max_upload_bytes
    uploads = []
    for record in notification.records:
        if not record.is_object_created:
            logger.warning("not an object creation; ignored", extra={"event_name": record.event_name})
            continue
        uploads.append(accept_upload(record, max_bytes=max_bytes))
    return UploadResult(uploads=uploads)
