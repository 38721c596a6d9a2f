"""docs/async-semantics.md R3 (the invocation record) and R4 (reserved concurrency 0)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from asyncrun.service.clock import VirtualClock
from asyncrun.service.metrics import ASYNC_EVENTS_DROPPED, INVOCATIONS
from tests.support.records import RECORD_KEYS

REQUEST_CONTEXT_KEYS = ["requestId", "functionArn", "condition", "approximateInvokeCount"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
START = 1_800_000_000.0  # a fixed virtual start: 2027-01-15T08:00:00Z


def _parse(timestamp: str) -> float:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def test_success_record_has_exactly_the_keys_in_order(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"order": [1, 2]})
    h.run()
    record = h.one_body("SuccessQueue")
    assert list(record) == RECORD_KEYS
    assert list(record["requestContext"]) == REQUEST_CONTEXT_KEYS
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{h.function('Worker').arn}:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order": [1, 2]}  # parsed JSON, not a string
    assert list(record["responseContext"]) == ["statusCode", "executedVersion"]
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"order": [1, 2]}}


def test_failure_record_says_unhandled_with_status_200(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {"action": "raise", "message": "bad batch"})
    h.run()
    record = h.one_body("FailureQueue")
    assert list(record) == RECORD_KEYS
    assert list(record["responseContext"]) == ["statusCode", "executedVersion", "functionError"]
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }


def test_timestamp_is_utc_iso_8601_with_milliseconds_from_the_virtual_clock(harness):
    # Given a virtual clock starting at a fixed time, and an event failing three times
    h = harness("core", clock=VirtualClock(start=START))
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    record = h.one_body("FailureQueue")
    assert TIMESTAMP.match(record["timestamp"])
    # Then the record was made after the retries' 180 virtual seconds, not at wall time
    finished = next(e.at for e in h.engine.trace if e.kind == "event_finished")
    assert abs(_parse(record["timestamp"]) - finished) < 0.001
    assert START + 180 <= _parse(record["timestamp"]) < START + 190


def test_an_explicit_latest_qualifier_gives_the_same_qualified_arn(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {}, qualifier="$LATEST")
    h.engine.invoke_async(f"{h.function('Worker').arn}:$LATEST", {})
    h.run()
    arns = {r["requestContext"]["functionArn"] for r in h.bodies("SuccessQueue")}
    assert arns == {f"{h.function('Worker').arn}:$LATEST"}


def test_through_an_alias_the_record_names_the_alias_and_the_executed_version(harness):
    h = harness("core")
    h.engine.invoke_async("Aliased", {"n": 1}, qualifier="live")
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["functionArn"] == f"{h.function('Aliased').arn}:live"
    assert record["responseContext"]["executedVersion"] == h.function("Aliased").aliases["live"]


def test_an_event_invoke_config_belongs_to_its_qualifier(harness):
    # Given Aliased's config on its alias only: unqualified and version invokes have none
    h = harness("core")
    h.engine.invoke_async("Aliased", {"n": 1})
    h.engine.invoke_async("Aliased", {"n": 2}, qualifier="1")
    h.run()
    assert h.metric("Aliased", INVOCATIONS) == 2
    assert h.bodies("SuccessQueue") == []


def test_the_error_object_is_the_python_runtimes(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"action": "raise", "message": "order 7 is invalid"})
    h.run()
    error = h.one_body("FailureQueue")["responsePayload"]
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "order 7 is invalid"
    assert error["errorType"] == "OrderRejected"  # the class name, no module
    assert error["requestId"] == request_id
    assert len(error["stackTrace"]) == 1  # the handler's frame only: no runner frames
    frame = error["stackTrace"][0]
    # The handler's file where the function runs: its folder here, /var/task in a container
    code = "/var/task" if h.executor == "sam-local" else r"/[^\"]+/functions/behave"
    assert re.fullmatch(
        rf'  File "{code}/app\.py", line \d+, in lambda_handler\n'
        r"    raise OrderRejected\(event\.get\(\"message\", \"rejected\"\)\)\n",
        frame,
    ), frame


def test_a_handler_returning_none_answers_null(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {"action": "return_none"})
    h.run()
    record = h.one_body("SuccessQueue")
    assert "responsePayload" in record
    assert record["responsePayload"] is None


def test_a_result_that_is_not_json_is_a_marshal_error(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {"action": "unserialisable"})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["responseContext"]["functionError"] == "Unhandled"
    error = record["responsePayload"]
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_zero_reserved_concurrency_never_runs_and_fails_at_once(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Zero", {"n": 1})
    accepted_at = h.engine.clock.now()
    h.run()
    record = h.one_body("FailureQueue")
    assert list(record) == ["version", "timestamp", "requestContext", "requestPayload"]
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{h.function('Zero').arn}:$LATEST",
        "condition": "ZeroReservedConcurrency",
        "approximateInvokeCount": 0,
    }
    assert abs(_parse(record["timestamp"]) - accepted_at) < 0.001  # no retries, no wait
    assert h.metric("Zero", INVOCATIONS) == 0
    assert h.metric("Zero", ASYNC_EVENTS_DROPPED) == 1
    # and the dead-letter queue gets it as well
    [dead] = h.messages("DeadLetterQueue")
    assert dead["Body"] == '{"n": 1}'
