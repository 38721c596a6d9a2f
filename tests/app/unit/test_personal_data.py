"""No personal data in what the functions write: for every error the pipeline raises on
purpose, its message, the logs, the process table and the audit log hold positions,
column names and identifiers, never a row's values nor the S3 requester's address
and principal. The sample S3 event carries such a requester; the rows below carry
such values."""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from pipeline import errors
from pipeline.events import S3EventNotification
from pipeline.settings import get_settings
from pipeline.uploads import accept_upload

from tests.support.events import load_event, put_and_pin, sample_bytes
from tests.support.storage import Invoke, StackStorage, Upload

HEADER = "order_id,customer_id,sku,quantity,unit_price,currency\n"
EMAIL = "alice.canary@example.com"
ORDER_ID = "ORD-CANARY-4711"
# What S3 writes into the sample event about the requester.
_SAMPLE = load_event("upload/s3-put.json")["Records"][0]
REQUESTER = (
    _SAMPLE["requestParameters"]["sourceIPAddress"],
    _SAMPLE["userIdentity"]["principalId"],
    _SAMPLE["s3"]["bucket"]["ownerIdentity"]["principalId"],
)
PERSONAL = (EMAIL, ORDER_ID, *REQUESTER)
# A row that is an order, not a header; with quantity 0 also a rejected row.
ORDER_ROW = f"{ORDER_ID},{EMAIL},SKU-1,0,9.99,EUR\n"


@dataclass
class World:
    invoke: Invoke
    upload_record: Upload
    storage: StackStorage
    monkeypatch: pytest.MonkeyPatch

    def upload_event(self, key: str, body: bytes) -> dict[str, Any]:
        """The sample S3 event (requester included) for `body` put at `key`."""
        event = copy.deepcopy(load_event("upload/s3-put.json"))
        event["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
        event["Records"][0]["s3"]["object"]["size"] = len(body)
        return put_and_pin(boto3.client("s3"), event, {key: body})  # type: ignore[no-any-return]


def _configuration(world: World) -> None:
    world.monkeypatch.delenv("AUDIT_BUCKET_NAME", raising=False)
    get_settings().required("audit_bucket_name")


def _invalid_event(world: World) -> None:
    world.invoke("ProcessFunction", load_event("failures/retries-exhausted.json"))


def _not_found(world: World) -> None:
    event = world.upload_event("incoming/orders.csv", b"x")
    boto3.client("s3").delete_object(
        Bucket=world.storage.upload_bucket,
        Key="incoming/orders.csv",
        VersionId=event["Records"][0]["s3"]["object"]["versionId"],
    )
    world.invoke("UploadFunction", event)


def _empty(world: World) -> None:
    world.invoke("UploadFunction", world.upload_event("incoming/orders.csv", b""))


def _too_large(world: World) -> None:
    event = world.upload_event("incoming/orders.csv", (HEADER + ORDER_ROW).encode())
    accept_upload(S3EventNotification.model_validate(event).records[0], max_bytes=10)


def _unsupported(world: World) -> None:
    world.invoke("UploadFunction", world.upload_event("incoming/orders.xlsx", ORDER_ROW.encode()))


def _unparsable(world: World) -> None:
    # No header: the first line is an order
    world.invoke("ProcessFunction", world.upload_record("incoming/orders.csv", (ORDER_ROW * 3).encode()))


def _empty_batch(world: World) -> None:
    world.invoke("ProcessFunction", world.upload_record("incoming/orders.csv", HEADER.encode()))


def _too_many_rejected(world: World) -> None:
    body = (HEADER + ORDER_ROW * 3).encode()
    world.invoke("ProcessFunction", world.upload_record("incoming/orders.csv", body))


SCENARIOS: dict[type[errors.PipelineError], Callable[[World], None]] = {
    errors.ConfigurationError: _configuration,
    errors.InvalidEventError: _invalid_event,
    errors.UploadNotFoundError: _not_found,
    errors.EmptyUploadError: _empty,
    errors.UploadTooLargeError: _too_large,
    errors.UnsupportedFormatError: _unsupported,
    errors.UnparsableUploadError: _unparsable,
    errors.EmptyBatchError: _empty_batch,
    errors.TooManyRejectedRowsError: _too_many_rejected,
}


def test_every_error_the_pipeline_raises_has_a_scenario_here() -> None:
    raised_on_purpose = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.PipelineError) and not cls.__subclasses__()
    }

    assert raised_on_purpose == set(SCENARIOS)


def _written(storage: StackStorage) -> str:
    """Everything the functions stored: the process table's items and the audit entries."""
    items = boto3.client("dynamodb").scan(TableName=storage.process_table)["Items"]
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=storage.audit_bucket).get("Contents", [])
    entries = [
        s3.get_object(Bucket=storage.audit_bucket, Key=o["Key"])["Body"].read().decode() for o in listing
    ]
    return json.dumps(items) + "".join(entries)


@pytest.mark.parametrize("error", list(SCENARIOS), ids=lambda error: error.__name__)
def test_given_personal_data_in_the_input_when_an_error_is_raised_then_it_travels_nowhere(
    invoke: Invoke,
    upload_record: Upload,
    storage: StackStorage,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], list[dict]],
    error: type[errors.PipelineError],
) -> None:
    world = World(invoke, upload_record, storage, monkeypatch)

    # When
    with pytest.raises(error) as raised:
        SCENARIOS[error](world)

    # Then: not in the message (the record's errorMessage, the alert, the debug queue) ...
    message = str(raised.value)
    assert [value for value in PERSONAL if value in message] == []
    # ... nor in the logs, nor in what was stored
    logs = json.dumps(log_lines())
    assert [value for value in PERSONAL if value in logs] == []
    stored = _written(storage)
    assert [value for value in PERSONAL if value in stored] == []


def test_given_personal_data_in_the_input_when_the_chain_succeeds_then_it_travels_nowhere(
    invoke: Invoke, upload_record: Upload, storage: StackStorage, log_lines: Callable[[], list[dict]]
) -> None:
    # Given: a good batch with one rejected row holding personal values
    body = sample_bytes("orders-2026-11-01.csv") + ORDER_ROW.encode()
    record = upload_record("incoming/orders.csv", body)

    # When: the three stages' results
    processed = invoke("ProcessFunction", record)
    from tests.support.records import success_record
    from tests.support.template import project_template

    audited = invoke(
        "AuditFunction", success_record(project_template(), "ProcessFunction", record, processed)
    )

    # Then: the results passed on, the logs and what was stored hold none of it
    passed_on = json.dumps([record["responsePayload"], processed, audited])
    assert [value for value in PERSONAL if value in passed_on] == []
    assert processed["processed"][0]["rejected_rows"] == 3
    lines = log_lines()
    assert {"upload accepted", "upload processed", "audit entry written"} <= {
        line["message"] for line in lines
    }
    logs = json.dumps(lines)
    assert [value for value in PERSONAL if value in logs] == []
    stored = _written(storage)
    assert [value for value in PERSONAL if value in stored] == []
    assert "rejected_samples" in stored


@pytest.mark.parametrize("stage", ["UploadFunction", "ProcessFunction"])
def test_given_an_event_that_does_not_validate_then_the_error_quotes_no_input(
    invoke: Invoke, storage: StackStorage, stage: str
) -> None:
    # Given: the sample event, its time replaced by something that is not one (upload),
    # or upload's record with a payload that is not an upload result (process)
    if stage == "UploadFunction":
        event = copy.deepcopy(load_event("upload/s3-put.json"))
        event["Records"][0]["eventTime"] = f"{EMAIL} at {REQUESTER[0]}"
    else:
        event = copy.deepcopy(load_event("process/upload-success.json"))
        event["responsePayload"]["uploads"][0]["size"] = EMAIL

    # When
    with pytest.raises(errors.InvalidEventError) as raised:
        invoke(stage, event)

    # Then: where and which rule, not the value
    message = str(raised.value)
    assert "is not a valid" in message
    assert ("eventTime" in message) if stage == "UploadFunction" else ("size" in message)
    assert [value for value in PERSONAL if value in message] == []
