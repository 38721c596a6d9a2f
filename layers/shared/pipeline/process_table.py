"""The process table: one item per upload with the outcome of its processing."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer

from pipeline import clients

if TYPE_CHECKING:
    from pipeline.processing import ProcessedUpload

KEY_ATTRIBUTE = "upload_id"


def key_of(upload_id: str) -> dict[str, str]:
    return {KEY_ATTRIBUTE: upload_id}


def item_of(processed: "ProcessedUpload") -> dict[str, Any]:
    """The item as plain Python values (Decimal for numbers DynamoDB stores exactly)."""
    upload = processed.upload
    item: dict[str, Any] = {
        KEY_ATTRIBUTE: processed.upload_id,
        "correlation_id": processed.correlation_id,
        "status": processed.status,
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id,
        "format": upload.format,
        "size": upload.size,
        "sha256": upload.sha256,
        "total_rows": processed.total_rows,
        "valid_rows": processed.valid_rows,
        "rejected_rows": processed.rejected_rows,
        "totals": dict(processed.totals),
        "rejected_samples": [sample.model_dump() for sample in processed.rejected_samples],
        "upload_request_id": processed.upload_stage.request_id,
        "process_request_id": processed.process_request_id,
        "received_at": _timestamp(upload.received_at),
        "uploaded_at": _timestamp(processed.upload_stage.timestamp),
        "processed_at": _timestamp(processed.processed_at),
    }
    return {name: value for name, value in item.items() if value is not None}


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    # TypeSerializer refuses floats: every number here is an int or a Decimal, stored exactly.
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in item.items()}


def save(table_name: str, processed: "ProcessedUpload") -> dict[str, str]:
    """Write (or overwrite: the item is a function of the upload) the upload's item; returns its key."""
    clients.dynamodb().put_item(TableName=table_name, Item=_attribute_values(item_of(processed)))
    return key_of(processed.upload_id)
