"""The audit log: one JSON object per upload in the audit bucket, partitioned by date,
written once and never overwritten."""

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from pipeline import clients

CONTENT_TYPE = "application/json"
# S3's answers to a conditional write whose key exists (412), or is being written by a
# concurrent request (409).
_ALREADY_WRITTEN = {"PreconditionFailed", "ConditionalRequestConflict"}


@dataclass(frozen=True)
class Written:
    version_id: str | None
    first: bool  # False when an earlier delivery wrote the entry


def key_for(upload_id: str, day: datetime) -> str:
    """`audit/year=YYYY/month=MM/day=DD/<upload_id>.json`: Hive-style partitions that
    Athena or Glue can prune by date."""
    return f"audit/year={day:%Y}/month={day:%m}/day={day:%d}/{upload_id}.json"


def write(bucket: str, key: str, body: bytes, *, expected_owner: str | None) -> Written:
    """Store the entry (encrypted at rest) unless it exists. `expected_owner` is the
    account the bucket must belong to: a bucket of the same name elsewhere is refused."""
    owner = {"ExpectedBucketOwner": expected_owner} if expected_owner else {}
    try:
        response = clients.s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=CONTENT_TYPE,
            ServerSideEncryption="AES256",
            IfNoneMatch="*",
            **owner,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _ALREADY_WRITTEN:
            raise
        return Written(version_id=None, first=False)
    return Written(version_id=response.get("VersionId"), first=True)
