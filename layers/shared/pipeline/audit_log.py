"""The audit log: one JSON object per upload in the audit bucket, partitioned by date."""

from datetime import datetime

from pipeline import clients

CONTENT_TYPE = "application/json"


def key_for(upload_id: str, day: datetime) -> str:
    """`audit/year=YYYY/month=MM/day=DD/<upload_id>.json`: Hive-style partitions that
    Athena or Glue can prune by date."""
    return f"audit/year={day:%Y}/month={day:%m}/day={day:%d}/{upload_id}.json"


def write(bucket: str, key: str, body: bytes) -> str | None:
    """Store the entry (encrypted at rest); returns the object's version id."""
    response = clients.s3().put_object(
        Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPE, ServerSideEncryption="AES256"
    )
    return response.get("VersionId")
