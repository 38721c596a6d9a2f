"""The process stage: the item it writes, the batch-level failures, and idempotency."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
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
    assert [(s["row"], s["line"]) for s in item["rejected_samples"]] == [(10, 11), (23, 24)]
    assert all(set(s) == {"row", "line", "reason"} for s in item["rejected_samples"])
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

    assert item["error_type"] == "TooManyRejectedRowsError"

    # And another event of the same upload (a new request id: a redrive) is decided afresh
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
        ("incoming/header-only.csv", HEADER.encode(), EmptyBatchError, "has no order rows"),
    ],
)
def test_given_unusable_file_when_processed_then_domain_error_and_the_item_records_it(
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

    with pytest.raises(error, match=message) as raised:
        invoke("ProcessFunction", record, request_id="process-1")
    item = _item(storage.process_table, {"upload_id": upload_id})
    assert item is not None
    assert (item["status"], item["error_type"], item["error_message"]) == (
        "FAILED",
        error.__name__,
        str(raised.value),
    )
    assert item["process_request_id"] == "process-1"
    assert "total_rows" not in item


GOOD_CSV_ROWS = "A1,C1,S1,2,1.25,EUR\nA2,C2,S2,1,3.00,USD\nA3,C3,S3,4,0.50,EUR\n"
GOOD_JSON_ROW = (
    '{"order_id": "A1", "customer_id": "C", "sku": "S", '
    '"quantity": 2, "unit_price": 1.25, "currency": "EUR"}\n'
)


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        (
            "incoming/overflow.csv",
            (HEADER + GOOD_CSV_ROWS + "B1,C1,S1,1,1E+999999999,EUR\n" + GOOD_CSV_ROWS).encode(),
            "unit_price: Decimal input should have no more than 12 digits in total",
        ),
        (
            "incoming/too-big-for-dynamodb.jsonl",
            (
                GOOD_JSON_ROW
                * 3
                + '{"order_id": "B1", "customer_id": "C", "sku": "S", "quantity": 1, "unit_price": 1E+200, '
                '"currency": "EUR"}\n' + GOOD_JSON_ROW * 3
            ).encode(),
            "unit_price: Decimal input should have no more than 12 digits in total",
        ),
        (
            "incoming/huge-integer.jsonl",
            (
                GOOD_JSON_ROW * 3 + '{"order_id": "B1", "quantity": ' + "9" * 4301 + "}\n" + GOOD_JSON_ROW * 3
            ).encode(),
            "row: a number with too many digits",
        ),
        (
            "incoming/deep.jsonl",
            (GOOD_JSON_ROW * 3 + "[" * 20_000 + "]" * 20_000 + "\n" + GOOD_JSON_ROW * 3).encode(),
            "row: JSON nested too deeply",
        ),
        (
            "incoming/long-id.csv",
            (HEADER + GOOD_CSV_ROWS + f"{'X' * 120_000},C1,S1,1,1.00,EUR\n" + GOOD_CSV_ROWS).encode(),
            "order_id: String should have at most 128 characters",
        ),
    ],
    ids=[
        "decimal-overflow",
        "beyond-dynamodb-numbers",
        "integer-over-4300-digits",
        "deep-nesting",
        "120kb-order-id",
    ],
)
def test_given_good_rows_and_one_bad_row_when_processed_then_only_that_row_is_rejected(
    invoke: Invoke, upload_record: Upload, storage: StackStorage, key: str, data: bytes, reason: str
) -> None:
    # Given
    record = upload_record(key, data)

    # When
    (processed,) = invoke("ProcessFunction", record)["processed"]

    # Then: the batch is processed, the row rejected with its reason (and no value of it)
    assert processed["status"] == "PROCESSED"
    assert (processed["total_rows"], processed["rejected_rows"]) == (7, 1)
    (sample,) = processed["rejected_samples"]
    assert (sample["row"], sample["reason"]) == (4, reason)
    item = _item(storage.process_table, processed["table_key"])
    assert item is not None
    assert item["rejected_samples"] == [{"row": 4, "line": sample["line"], "reason": reason}]


def test_given_many_rows_with_120kb_order_ids_then_the_item_stays_small(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given: rejected rows whose raw ids alone would be far over DynamoDB's 400 KB item limit
    bad = "".join(f"{'X' * 120_000}{i},C1,S1,1,1.00,EUR\n" for i in range(5))
    record = upload_record("incoming/long-ids.csv", (HEADER + GOOD_CSV_ROWS * 10 + bad).encode())

    # When
    (processed,) = invoke("ProcessFunction", record)["processed"]

    # Then
    assert processed["rejected_rows"] == 5
    item = _item(storage.process_table, processed["table_key"])
    assert item is not None
    assert len(json.dumps(item, default=str)) < 10_000


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


def _get_object_calls() -> list[dict[str, Any]]:
    """The GetObject calls the functions make from now on (on their shared S3 client)."""
    from pipeline import clients

    calls: list[dict[str, Any]] = []
    clients.s3().meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: calls.append(dict(params))
    )
    return calls


def _expire_idempotency_records(storage: StackStorage) -> None:
    dynamodb = boto3.client("dynamodb")
    for entry in dynamodb.scan(TableName=storage.idempotency_table)["Items"]:
        dynamodb.delete_item(TableName=storage.idempotency_table, Key={"id": entry["id"]})


@pytest.mark.parametrize(
    ("sample", "error"),
    [
        (sample_bytes("orders-rejected.csv"), TooManyRejectedRowsError),
        (b"order_id,sku\nA1,S1\n", UnparsableUploadError),
        (HEADER.encode(), EmptyBatchError),
    ],
    ids=["too-many-rejected", "unparsable", "empty-batch"],
)
def test_given_permanent_failure_when_lambda_retries_the_event_then_it_fails_again_without_reading(
    invoke: Invoke, upload_record: Upload, sample: bytes, error: type[Exception]
) -> None:
    # Given: the first attempt failed for a reason the same object will always give
    record = upload_record("incoming/bad/orders.csv", sample)
    with pytest.raises(error) as first:
        invoke("ProcessFunction", record, request_id="event-1")
    reads = _get_object_calls()

    # When: Lambda retries the event (a retry keeps the request id)
    with pytest.raises(error) as retried:
        invoke("ProcessFunction", record, request_id="event-1")

    # Then: the same error, from the item, and the object was not read again
    assert str(retried.value) == str(first.value)
    assert reads == []


def test_given_permanent_failure_when_another_event_arrives_then_it_is_decided_afresh(
    invoke: Invoke, upload_record: Upload
) -> None:
    # Given
    record = upload_record("incoming/bad/orders.csv", sample_bytes("orders-rejected.csv"))
    with pytest.raises(TooManyRejectedRowsError):
        invoke("ProcessFunction", record, request_id="event-1")
    reads = _get_object_calls()

    # When: a redrive (a new event, a new request id)
    with pytest.raises(TooManyRejectedRowsError):
        invoke("ProcessFunction", record, request_id="redrive-1")

    # Then: the object was read again (the threshold or the code may have changed)
    assert len(reads) == 1


def test_given_transient_failure_when_retried_then_the_object_is_read_again(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given: the first attempt could not write its item (the table is briefly unavailable)
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    from pipeline import clients

    def unavailable(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == storage.process_table:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try again"}}, "PutItem")

    events = clients.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.PutItem", unavailable)
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        invoke("ProcessFunction", record, request_id="event-1")
    events.unregister("provide-client-params.dynamodb.PutItem", unavailable)
    reads = _get_object_calls()

    # When
    (processed,) = invoke("ProcessFunction", record, request_id="event-1")["processed"]

    # Then
    assert processed["status"] == "PROCESSED"
    assert len(reads) == 1


def test_given_redrive_after_the_idempotency_window_then_the_first_item_stands(
    invoke: Invoke, upload_record: Upload, storage: StackStorage
) -> None:
    # Given: the upload was processed, and its idempotency record has expired since
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    first = invoke("ProcessFunction", record, request_id="first")["processed"][0]
    _expire_idempotency_records(storage)

    # When: upload's record is redriven
    second = invoke("ProcessFunction", record, request_id="redrive")["processed"][0]

    # Then: one item, the first one, and the redrive returns that outcome
    (item,) = [_item(storage.process_table, first["table_key"])]
    assert item is not None
    assert item["process_request_id"] == "first"
    assert boto3.client("dynamodb").scan(TableName=storage.process_table)["Count"] == 1
    assert (second["process_request_id"], second["processed_at"]) == ("first", first["processed_at"])
    assert second["totals"] == first["totals"]


def test_given_a_concurrent_delivery_in_progress_then_this_one_succeeds_with_one_item(
    invoke: Invoke, upload_record: Upload, storage: StackStorage, template: Template
) -> None:
    # Given: another delivery of the upload holds the idempotency record (in progress)
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"))
    invoke("ProcessFunction", record, request_id="other-delivery")
    dynamodb = boto3.client("dynamodb")
    (entry,) = dynamodb.scan(TableName=storage.idempotency_table)["Items"]
    in_progress = {
        "id": entry["id"],
        "status": {"S": "INPROGRESS"},
        "expiration": {"N": str(int(time.time()) + 3600)},
        "in_progress_expiration": {"N": str(int(time.time() * 1000) + 600_000)},
    }
    dynamodb.put_item(TableName=storage.idempotency_table, Item=in_progress)

    # When: with no retries left to absorb an IdempotencyAlreadyInProgressError
    (processed,) = invoke("ProcessFunction", record, request_id="this-delivery")["processed"]

    # Then: it succeeds (no false alert), and the table holds one item, the first
    assert processed["process_request_id"] == "other-delivery"
    assert dynamodb.scan(TableName=storage.process_table)["Count"] == 1
