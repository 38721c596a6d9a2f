"""The invocation record model, held against every record file in events/."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from pipeline.errors import InvalidEventError
from pipeline.models import InvocationRecord, ProcessResult, UploadResult, parse_success
from pydantic import ValidationError

from asyncrun.service import records as runner_records
from tests.support.events import EVENTS_DIR, event_files, load_event
from tests.support.records import RECORD_KEYS


def _record_files() -> list[Path]:
    return [path for path in event_files() if "requestContext" in json.loads(path.read_text())]


@pytest.mark.parametrize("path", _record_files(), ids=lambda path: str(path.relative_to(EVENTS_DIR)))
def test_given_record_file_when_parsed_then_it_round_trips_exactly(path: Path) -> None:
    # Given: a record as Lambda writes it (keys in order, millisecond "Z" timestamp)
    raw = json.loads(path.read_text())
    assert list(raw) == [key for key in RECORD_KEYS if key in raw]

    # When
    record = InvocationRecord.model_validate(raw)

    # Then: nothing is lost or reshaped, so the redrive tool can send it back unchanged
    assert record.model_dump(mode="json", by_alias=True, exclude_unset=True) == raw
    assert json.dumps(record.model_dump(mode="json", by_alias=True, exclude_unset=True)) == json.dumps(raw)


def test_given_record_files_then_all_four_conditions_are_covered() -> None:
    conditions = {
        InvocationRecord.model_validate(json.loads(p.read_text())).condition for p in _record_files()
    }

    assert conditions == {"Success", "RetriesExhausted", "EventAgeExceeded", "ZeroReservedConcurrency"}


def test_given_success_record_when_parsed_with_result_model_then_payload_is_typed() -> None:
    # When
    record = parse_success(load_event("process/upload-success.json"), UploadResult)

    # Then
    assert record.response_payload is not None
    (upload,) = record.response_payload.uploads
    assert upload.key == "incoming/2026-11-01/orders batch.csv"
    assert record.timestamp == datetime(2026, 11, 1, 9, 30, 13, 120000, tzinfo=UTC)
    assert record.function_name == "order-pipeline-UploadFunction"
    stage = record.stage()
    assert (stage.condition, stage.executed_version, stage.approximate_invoke_count) == ("Success", "1", 1)


def test_given_process_success_record_then_it_carries_the_upload_stage() -> None:
    record = parse_success(load_event("audit/process-success.json"), ProcessResult)

    assert record.response_payload is not None
    (processed,) = record.response_payload.processed
    upload_record = load_event("process/upload-success.json")
    assert processed.upload_stage.request_id == upload_record["requestContext"]["requestId"]
    assert processed.upload_stage.function_arn == upload_record["requestContext"]["functionArn"]


def test_given_retries_exhausted_record_when_error_read_then_function_error_is_typed() -> None:
    # When
    record = InvocationRecord.model_validate(load_event("failures/retries-exhausted.json"))
    error = record.error()

    # Then
    assert not record.succeeded
    assert record.request_context.approximate_invoke_count == 3
    assert error is not None
    assert error.error_type == "TooManyRejectedRowsError"
    assert "4 of 10 rows" in error.error_message
    assert error.stack_trace


def test_given_zero_reserved_concurrency_record_then_it_has_no_response() -> None:
    record = InvocationRecord.model_validate(load_event("failures/zero-reserved-concurrency.json"))

    assert record.response_context is None
    assert record.response_payload is None
    assert record.error() is None
    assert record.stage().executed_version is None
    assert record.request_context.approximate_invoke_count == 0


def test_given_timeout_error_without_request_id_when_read_then_accepted() -> None:
    # Given: a timeout's error object has neither requestId nor stackTrace
    raw = load_event("failures/retries-exhausted.json")
    raw["responsePayload"] = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: b59f7d1e Error: Task timed out after 120.00 seconds",
    }

    # When
    error = InvocationRecord.model_validate(raw).error()

    # Then
    assert error is not None
    assert error.error_type == "Sandbox.Timedout"
    assert error.request_id is None


@pytest.mark.parametrize(
    "name", ["failures/retries-exhausted.json", "failures/zero-reserved-concurrency.json"]
)
def test_given_failure_record_when_parsed_as_success_then_refused(name: str) -> None:
    with pytest.raises(InvalidEventError, match="expected a Success record"):
        parse_success(load_event(name), UploadResult)


@pytest.mark.parametrize("condition", get_args(runner_records.Condition))
@pytest.mark.parametrize("ran", [True, False], ids=["ran", "never-ran"])
def test_given_any_record_the_runner_can_build_then_the_model_accepts_it(condition: str, ran: bool) -> None:
    # Given: a record built by asyncrun's own builder, for each condition it can emit,
    # with and without a response (an event that never ran has none)
    raw = runner_records.build_record(
        timestamp=1_793_523_013.12,
        request_id="b59f7d1e-0000-4000-8000-000000000001",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:order-pipeline-ProcessFunction:live",
        condition=condition,  # type: ignore[arg-type]
        approximate_invoke_count=3 if ran else 0,
        request_payload=b'{"Records": []}',
        executed_version="1" if ran else None,
        response_payload=b'{"errorType": "E", "errorMessage": "m"}' if ran else None,
        function_error="Unhandled" if ran and condition != "Success" else None,
    )

    # When
    record = InvocationRecord.model_validate(json.loads(runner_records.record_json(raw)))

    # Then: accepted, and it round-trips to the runner's bytes
    assert record.condition == condition
    assert runner_records.record_json(record.model_dump(mode="json", by_alias=True, exclude_unset=True)) == (
        runner_records.record_json(raw)
    )


def test_given_unknown_condition_when_parsed_then_refused() -> None:
    raw = copy.deepcopy(load_event("process/upload-success.json"))
    raw["requestContext"]["condition"] = "Throttled"

    with pytest.raises(ValidationError, match="condition"):
        InvocationRecord.model_validate(raw)


def test_given_timestamp_without_timezone_when_parsed_then_refused() -> None:
    raw = copy.deepcopy(load_event("process/upload-success.json"))
    raw["timestamp"] = "2026-11-01T09:30:13.120"

    with pytest.raises(ValidationError, match="timestamp"):
        InvocationRecord.model_validate(raw)


def test_given_timestamp_when_dumped_then_it_has_milliseconds_and_z() -> None:
    raw = copy.deepcopy(load_event("process/upload-success.json"))
    raw["timestamp"] = "2026-11-01T10:30:13.120+01:00"

    dumped = InvocationRecord.model_validate(raw).model_dump(mode="json", by_alias=True)

    assert dumped["timestamp"] == "2026-11-01T09:30:13.120Z"
