"""The process table: one item per upload with the outcome of its processing.

The item is written once: a PROCESSED item is never replaced (a delivery after the
idempotency window, or a concurrent duplicate, finds it and keeps it), while a failed
outcome (REJECTED, FAILED) may be replaced by a later run, e.g. a redrive after the
cause was fixed. A failed outcome also remembers its error, so that Lambda's retries of
the same event fail again from memory instead of reading the object again.

The process function therefore needs dynamodb:GetItem and dynamodb:PutItem on the table."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from pipeline import clients
from pipeline.models import AcceptedUpload, ProcessedUpload, RejectedRow, StageInvocation

KEY_ATTRIBUTE = "upload_id"
# The status of a file that could not be read as a batch at all (no item reaches audit).
FAILED: Literal["FAILED"] = "FAILED"
ItemStatus = Literal["PROCESSED", "REJECTED", "FAILED"]


@dataclass(frozen=True)
class RememberedFailure:
    error_type: str
    error_message: str
    process_request_id: str
    sha256: str


def key_of(upload_id: str) -> dict[str, str]:
    return {KEY_ATTRIBUTE: upload_id}


def _base_item(
    upload: AcceptedUpload, status: ItemStatus, upload_stage: StageInvocation, request_id: str, at: datetime
) -> dict[str, Any]:
    return {
        KEY_ATTRIBUTE: upload.upload_id,
        "correlation_id": upload.correlation_id,
        "status": status,
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id,
        "format": upload.format,
        "size": upload.size,
        "sha256": upload.sha256,
        "upload_request_id": upload_stage.request_id,
        "process_request_id": request_id,
        "received_at": _timestamp(upload.received_at),
        "uploaded_at": _timestamp(upload_stage.timestamp),
        "processed_at": _timestamp(at),
    }


def _error_attributes(error: Exception | None) -> dict[str, Any]:
    return {"error_type": type(error).__name__, "error_message": str(error)} if error else {}


def item_of(processed: ProcessedUpload, error: Exception | None = None) -> dict[str, Any]:
    """The item as plain Python values (Decimal for numbers DynamoDB stores exactly)."""
    item = _base_item(
        processed.upload,
        processed.status,
        processed.upload_stage,
        processed.process_request_id,
        processed.processed_at,
    ) | {
        "total_rows": processed.total_rows,
        "valid_rows": processed.valid_rows,
        "rejected_rows": processed.rejected_rows,
        "totals": dict(processed.totals),
        "rejected_samples": [sample.model_dump() for sample in processed.rejected_samples],
        **_error_attributes(error),
    }
    return {name: value for name, value in item.items() if value is not None}


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    # TypeSerializer refuses floats: every number here is an int or a Decimal, stored exactly.
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in item.items()}


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in attributes.items()}


def _put_unless_processed(table_name: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """Write the item unless a PROCESSED one is there; returns that one if it is."""
    try:
        clients.dynamodb().put_item(
            TableName=table_name,
            Item=_attribute_values(item),
            ConditionExpression="attribute_not_exists(#key) OR #status <> :processed",
            ExpressionAttributeNames={"#key": KEY_ATTRIBUTE, "#status": "status"},
            ExpressionAttributeValues={":processed": {"S": "PROCESSED"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return _plain(error.response.get("Item", {}))  # type: ignore[arg-type]
    return None


def save(table_name: str, processed: ProcessedUpload, error: Exception | None = None) -> ProcessedUpload:
    """Write the upload's item; returns the outcome the table holds: this one, or the
    PROCESSED outcome an earlier delivery wrote (which stands)."""
    existing = _put_unless_processed(table_name, item_of(processed, error))
    if existing is None:
        return processed
    return processed.model_copy(
        update={
            "status": existing["status"],
            "total_rows": int(existing["total_rows"]),
            "valid_rows": int(existing["valid_rows"]),
            "rejected_rows": int(existing["rejected_rows"]),
            "totals": existing["totals"],
            "rejected_samples": [RejectedRow.model_validate(s) for s in existing["rejected_samples"]],
            "process_request_id": existing["process_request_id"],
            "processed_at": datetime.fromisoformat(existing["processed_at"]),
        }
    )


def save_failure(
    table_name: str,
    upload: AcceptedUpload,
    upload_stage: StageInvocation,
    request_id: str,
    at: datetime,
    error: Exception,
) -> None:
    """Record that the file could not be read as a batch (unless a PROCESSED outcome stands)."""
    item = _base_item(upload, FAILED, upload_stage, request_id, at) | _error_attributes(error)
    _put_unless_processed(table_name, {name: value for name, value in item.items() if value is not None})


def failure_of(table_name: str, upload_id: str) -> RememberedFailure | None:
    """The failed outcome recorded for the upload, if that is what the table holds."""
    response = clients.dynamodb().get_item(
        TableName=table_name, Key={KEY_ATTRIBUTE: {"S": upload_id}}, ConsistentRead=True
    )
    item = _plain(response.get("Item", {}))
    if item.get("status") == "PROCESSED" or "error_type" not in item:
        return None
    return RememberedFailure(
        error_type=item["error_type"],
        error_message=item["error_message"],
        process_request_id=item["process_request_id"],
        sha256=item["sha256"],
    )
