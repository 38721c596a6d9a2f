"""The process stage: the item it writes, the batch-level failures, and idempotency."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from pipeline.errors import (
    EmptyBatchError,
    InvalidEventError,
    TooManyRejectedRowsError,
    UnparsableUploadError,
)
from pipeline.orders import OrderRow
from pydantic import ValidationError

from tests.support.events import load_event, sample_bytes
from tests.support.storage import Invoke, StackStorage, Upload
from tests.support.template import Template

CSV_KEY = "incoming/2026-11-01/orders batch.csv"
HEADER = "order_id,customer_id,sku,quantity,unit_price,currency\n"


def _item(table: str, key: dict[str, str]) -> dict[str, Any] | None:
    response = boto3.client("dynamodb").get_item(
        TableName=table, Key={name: {"S": value} for name, value in key.items()}
    )
    if "Item" not in response:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in response["Item"].items()}


def _expected_totals(data: bytes) -> tuple[int, dict[str, Decimal]]:
    """Valid rows and totals per currency, computed independently of the pipeline."""
    totals: dict[str, Decimal] = {}
    valid = 0
    for row in csv.DictReader(io.StringIO(data.decode())):
        try:
            order = OrderRow.model_validate(row)
        except ValidationError:
            continue
        valid += 1
        totals[order.currency] = totals.get(order.currency, Decimal(0)) + order.quantity * order.unit_price
    return valid, totals


def _rows(valid: int, invalid: int) -> bytes:
    good = [f"A{i},C{i},S1,2,1.25,EUR\n" for i in range(valid)]
    bad = [f"B{i},C{i},S1,0,1.25,EUR\n" for i in range(invalid)]
    return (HEADER + "".join(good + bad)).encode()


def test_given_good_csv_when_processed_then_one_item_with_counts_totals_and_samples(
    invoke: Invoke, upload_record: Upload, storage: StackStorage, template: Template
) -> None:
    # Given
    data = sample_bytes("orders-2026-11-01.csv")
    record = upload_record(CSV_KEY, data)
    (upload,) = record["responsePayload"]["uploads"]

    # When
    result = invoke("ProcessFunction", record, request_id="process-request-1")

    # Then: the returned result
    (processed,) = result["processed"]
    assert processed["status"] == "PROCESSED"
    assert processed["table_name"] == storage.process_table
    assert processed["table_key"] == {template.hash_key("ProcessTable"): upload["upload_id"]}
    assert processed["upload_stage"]["request_id"] == record["requestContext"]["requestId"]
    assert processed["upload_stage"]["function_arn"] == record["requestContext"]["functionArn"]
    assert processed["upload"] == upload
    # ... and the item
    item = _item(storage.process_table, processed["table_key"])
    assert item is not None
    valid, totals = _expected_totals(data)
    assert item["status"] == "PROCESSED"
    assert (item["total_rows"], item["valid_rows"], item["rejected_rows"]) == (36, valid, 36 - valid)
    assert item["totals"] == totals
    assert all(isinstance(total, Decimal) for total in item["totals"].values())
    assert set(item["totals"]) == {"EUR", "USD"}
    assert [(s["row"], s["order_id"]) for s in item["rejected_samples"]] == [
        (10, "ORD-20261101-0010"),
        (23, "ORD-20261101-0023"),
    ]
    assert item["sha256"] == upload["sha256"]
    assert item["correlation_id"] == upload["upload_id"]
    assert item["upload_request_id"] == record["requestContext"]["requestId"]
    assert item["process_request_id"] == "process-request-1"
    assert {"received_at", "uploaded_at", "processed_at"} <= set(item)


def test_given_good_json_lines_when_processed_then_totals_per_currency(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    data = sample_bytes("orders-2026-11-02.jsonl")
    record = upload_record("incoming/2026-11-02/orders.jsonl", data)
    expected: dict[str, Decimal] = {}
    for line in data.decode().splitlines():
        order = OrderRow.model_validate(json.loads(line))
        expected[order.currency] = expected.get(order.currency, Decimal(0)) + order.amount

    processed = invoke("ProcessFunction", record)["processed"][0]

    item = _item(storage.process_table, processed["table_key"])
    assert item is not None
    assert item["totals"] == expected
    assert item["rejected_rows"] == 0
    assert "rejected_samples" in item
    assert item["rejected_samples"] == []
    assert {currency: Decimal(total) for currency, total in processed["totals"].items()} == expected


def test_given_too_many_invalid_rows_when_processed_then_fails_and_item_records_rejection(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given: the sample with 4 invalid rows out of 10
    record = upload_record("incoming/bad/orders-rejected.csv", sample_bytes("orders-rejected.csv"))
    upload_id = record["responsePayload"]["uploads"][0]["upload_id"]

    # When / Then
    with pytest.raises(TooManyRejectedRowsError, match=r"4 of 10 rows .* above REJECTION_THRESHOLD 0.2"):
        invoke("ProcessFunction", record)
    item = _item(storage.process_table, {"upload_id": upload_id})
    assert item is not None
    assert item["status"] == "REJECTED"
    assert len(item["rejected_samples"]) == 4

    # And a retry runs again (a failed attempt leaves no idempotency record behind)
    with pytest.raises(TooManyRejectedRowsError):
        invoke("ProcessFunction", record)


def test_given_rejected_share_at_threshold_then_passes_and_one_more_row_fails(
    invoke: Invoke, upload_record: Upload, template: Template
) -> None:
    # Given: with the template's threshold, the largest rejected count that still passes in 20 rows
    threshold = Decimal(template.parameter("RejectionThreshold"))
    at_threshold = int(threshold * 20)
    passing = upload_record("incoming/at-threshold.csv", _rows(20 - at_threshold, at_threshold))
    failing = upload_record("incoming/above-threshold.csv", _rows(20 - at_threshold - 1, at_threshold + 1))

    # When / Then
    assert invoke("ProcessFunction", passing)["processed"][0]["rejected_rows"] == at_threshold
    with pytest.raises(TooManyRejectedRowsError, match=f"{at_threshold + 1} of 20 rows"):
        invoke("ProcessFunction", failing)


@pytest.mark.parametrize(
    ("key", "data", "error", "message"),
    [
        ("incoming/columns.csv", b"order_id,sku\nA1,S1\n", UnparsableUploadError, "lacks required column"),
        (
            "incoming/latin1.csv",
            HEADER.encode() + "A1,C1,Caf\xe9,1,1.00,EUR\n".encode("latin-1"),
            UnparsableUploadError,
            "not UTF-8",
        ),
        ("incoming/broken.jsonl", b'{"order_id": "A1",\n', UnparsableUploadError, "line 1 is not valid JSON"),
        ("incoming/header-only.csv", HEADER.encode(), EmptyBatchError, "has no order rows"),
    ],
)
def test_given_unusable_file_when_processed_then_domain_error_and_no_item(
    invoke: Invoke,
    upload_record: Upload,
    storage: StackStorage,
    key: str,
    data: bytes,
    error: type[Exception],
    message: str,
) -> None:
    record = upload_record(key, data)
    upload_id = record["responsePayload"]["uploads"][0]["upload_id"]

    with pytest.raises(error, match=message):
        invoke("ProcessFunction", record)
    assert _item(storage.process_table, {"upload_id": upload_id}) is None


def test_given_same_record_twice_when_processed_then_one_item_and_the_same_result(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    first = invoke("ProcessFunction", record, request_id="first-attempt")
    bucket = storage.upload_bucket
    upload = record["responsePayload"]["uploads"][0]
    # The object is gone now: a second run could not read it
    boto3.client("s3").delete_object(Bucket=bucket, Key=upload["key"], VersionId=upload["version_id"])

    # When: the same record again (an at-least-once duplicate), with a new request id
    second = invoke("ProcessFunction", record, request_id="duplicate-delivery")

    # Then
    assert second == first
    items = boto3.client("dynamodb").scan(TableName=storage.process_table)["Items"]
    assert len(items) == 1
    assert items[0]["process_request_id"] == {"S": "first-attempt"}


def test_given_duplicate_upload_invocation_then_process_keeps_the_first_outcome(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given: the upload stage ran twice on one notification: two records, one upload_id
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"), request_id="upload-1")
    duplicate = json.loads(json.dumps(record))
    duplicate["requestContext"]["requestId"] = "upload-2"

    # When
    first = invoke("ProcessFunction", record)
    second = invoke("ProcessFunction", duplicate)

    # Then
    assert second == first
    assert first["processed"][0]["upload_stage"]["request_id"] == "upload-1"
    assert boto3.client("dynamodb").scan(TableName=storage.process_table)["Count"] == 1


def test_given_processed_upload_then_idempotency_record_is_keyed_on_upload_id_with_expiry(
    invoke: Invoke, upload_record: Upload, storage: StackStorage, template: Template
) -> None:
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    invoke("ProcessFunction", record)

    (entry,) = boto3.client("dynamodb").scan(TableName=storage.idempotency_table)["Items"]

    key = entry[template.hash_key("IdempotencyTable")]["S"]
    assert key.startswith("process#")
    ttl_attribute = template.properties("IdempotencyTable")["TimeToLiveSpecification"]["AttributeName"]
    assert ttl_attribute in entry
    assert entry["status"] == {"S": "COMPLETED"}


def test_given_failure_record_when_processed_then_refused(invoke: Invoke, storage: StackStorage) -> None:
    with pytest.raises(InvalidEventError, match="RetriesExhausted"):
        invoke("ProcessFunction", load_event("failures/retries-exhausted.json"))


def test_given_processed_upload_then_row_metrics_are_emitted(
    invoke: Invoke, upload_record: Upload, capsys: pytest.CaptureFixture[str]
) -> None:
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    capsys.readouterr()

    invoke("ProcessFunction", record)

    emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    assert emf["RowsProcessed"] == [36.0]
    assert emf["RowsRejected"] == [2.0]
