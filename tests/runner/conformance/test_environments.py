"""docs/async-semantics.md R12: each function in an execution environment of its own (a
process), stopped at its deadline, at a crash and past its memory; the response
marshalled as the Python runtime does, and refused over 6 MB; the log as Lambda
writes it, in CloudWatch Logs and in LogType=Tail."""

from __future__ import annotations

import json
import re
import time
import uuid
from base64 import b64decode

import pytest

from asyncrun.service.clock import RealClock
from asyncrun.service.engine import RECURSION_LIMIT
from asyncrun.service.limits import RESPONSE_SIZE_LIMIT
from asyncrun.service.logs import tail
from asyncrun.service.metrics import INVOCATIONS, RECURSIVE_INVOCATIONS_DROPPED

pytestmark = pytest.mark.in_process_only(
    "asyncrun's own execution environments: sam local's emulator has its own, checked elsewhere"
)
STREAM_NAME = re.compile(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}")


def _sync(h, function, payload):
    result = h.engine.invoke_sync(function, payload)
    return result, json.loads(result.payload)


def _attempt_logs(h, request_id):
    return [e.logs for e in h.engine.trace if e.kind == "attempt_finished" and e.request_id == request_id]


def test_a_write_after_the_deadline_never_lands_and_the_next_attempt_is_a_cold_start(harness):
    # Given a handler with Timeout 1 that sleeps 1.5 s, then writes to S3
    h = harness("environments")
    key = f"late/{uuid.uuid4()}"
    request_id = h.engine.invoke_async("Isolated", {"action": "late_write", "seconds": 1.5, "key": key})
    h.run()
    time.sleep(1.0)  # past the moment the write would have happened
    # Then every attempt timed out as Lambda says it, and no write landed
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    listed = h.endpoint.client("s3").list_objects_v2(Bucket=h.stack.buckets["Writes"].name, Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    # And each attempt after a timeout started a fresh environment (an init phase)
    logs = _attempt_logs(h, request_id)
    assert len(logs) == 3
    assert all("Init Duration:" in text and "Status: timeout" in text for text in logs)
    assert all(f"{request_id} Task timed out after 1.00 seconds" in text for text in logs)


def test_a_warm_environment_keeps_module_state_and_has_no_init_phase(harness):
    h = harness("environments")
    first, _ = _sync(h, "Isolated", {"action": "counter"})
    second, body = _sync(h, "Isolated", {"action": "counter"})
    assert body["count"] == json.loads(first.payload)["count"] + 1
    assert "Init Duration:" not in second.logs


def test_decimal_returns_succeed_as_json_numbers(harness):
    h = harness("environments")
    result, body = _sync(h, "Isolated", {"action": "decimal"})
    assert result.function_error is None
    # The runtime writes a Decimal through a float, and text without \u escapes
    assert result.payload == '{"price": 12.5, "quantity": 3.0, "name": "café"}'.encode()
    assert body == {"price": 12.5, "quantity": 3.0, "name": "café"}


def test_a_response_over_6_mb_fails_is_retried_and_reaches_on_failure(harness):
    h = harness("environments")
    h.engine.invoke_async("Isolated", {"action": "big", "bytes": 7 * 1024 * 1024})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_a_response_of_exactly_the_limit_is_returned(harness):
    h = harness("environments")
    overhead = len('{"blob": ""}')
    result, _ = _sync(h, "Isolated", {"action": "big", "bytes": RESPONSE_SIZE_LIMIT - overhead})
    assert result.function_error is None
    assert len(result.payload) == RESPONSE_SIZE_LIMIT


def test_a_print_is_in_cloudwatch_logs_framed_by_start_end_report_and_in_the_tail(harness):
    h = harness("environments")
    spec = h.function("Isolated")
    result, _ = _sync(h, "Isolated", {"action": "print"})
    lines = result.logs.splitlines()
    assert lines[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert f"hello from {spec.name}" in lines
    warning = next(line for line in lines if line.startswith("[WARNING]"))
    assert re.fullmatch(
        rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{result.request_id}"
        r"\ta warning with arguments",
        warning,
    )
    assert lines[-2] == f"END RequestId: {result.request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {result.request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?",
        lines[-1],
    )
    # In CloudWatch Logs, in the function's group, in a stream named as Lambda names them
    logs = h.endpoint.client("logs")
    found = [
        event
        for event in logs.filter_log_events(logGroupName=f"/aws/lambda/{spec.name}")["events"]
        if result.request_id in event["message"]
    ]
    streams = {event["logStreamName"] for event in found}
    assert len(streams) == 1
    assert STREAM_NAME.fullmatch(streams.pop())
    messages = [event["message"] for event in found]
    assert f"START RequestId: {result.request_id} Version: $LATEST" in messages
    assert any(message.startswith(f"REPORT RequestId: {result.request_id}") for message in messages)
    # LogType=Tail: the last 4 KB, base64
    assert b64decode(tail(result.logs)).decode() == result.logs


def test_the_json_log_format_writes_platform_records_and_json_entries(harness):
    h = harness("environments")
    result, _ = _sync(h, "JsonLogs", {"action": "print"})
    entries = [json.loads(line) for line in result.logs.splitlines() if line.startswith("{")]
    kinds = [entry.get("type") or entry.get("level") for entry in entries]
    assert kinds == ["platform.start", "WARNING", "platform.report"]
    assert entries[0]["record"] == {"requestId": result.request_id, "version": "$LATEST"}
    assert entries[1]["message"] == "a warning with arguments"
    assert entries[1]["requestId"] == result.request_id
    assert entries[1]["logger"] == "environments"
    report = entries[2]["record"]
    assert report["status"] == "success"
    assert set(report["metrics"]) >= {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"}
    # A print stays plain text; the group is the LoggingConfig's
    assert f"hello from {h.name('JsonLogs')}" in result.logs.splitlines()
    events = h.endpoint.client("logs").filter_log_events(logGroupName="/custom/json-logs")["events"]
    assert any(result.request_id in event["message"] for event in events)


def test_environment_changes_in_one_function_are_invisible_to_another(harness):
    h = harness("environments")
    _sync(h, "Isolated", {"action": "setenv"})
    assert _sync(h, "Isolated", {"action": "getenv"})[1] == {
        "value": h.name("Isolated")
    }  # its own, kept warm
    assert _sync(h, "Neighbour", {"action": "getenv"})[1] == {"value": None}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("exit", "Runtime exited with error: exit status 1"),
        ("os_exit", "Runtime exited without providing a reason"),
        ("segfault", "Runtime exited with error: signal: segmentation fault"),
    ],
)
def test_a_crash_fails_one_attempt_and_the_run_goes_on(harness, action, reason):
    h = harness("environments")
    crashing = h.engine.invoke_async("Isolated", {"action": action})
    fine = h.engine.invoke_async("Isolated", {"action": "counter"})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["requestId"] == crashing
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {crashing} Error: {reason}",
    }
    assert h.one_body("SuccessQueue")["requestContext"]["requestId"] == fine


def test_an_environment_over_its_memory_size_is_stopped_with_an_out_of_memory_error(harness):
    h = harness("environments")
    result, error = _sync(h, "Isolated", {"action": "hog", "megabytes": 400})
    assert result.function_error == "Unhandled"
    assert error == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed",
    }
    assert "Status: error\tError Type: Runtime.OutOfMemory" in result.logs
    # The next call gets a fresh environment
    after, _ = _sync(h, "Isolated", {"action": "counter"})
    assert after.function_error is None
    assert "Init Duration:" in after.logs


def test_an_init_error_fails_the_attempt_and_the_next_one_starts_again(harness):
    h = harness("environments")
    request_id = h.engine.invoke_async("Broken", {})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 2
    # The runtime's init error belongs to no request: its requestId is empty
    assert record["responsePayload"] == {
        "errorMessage": "Unable to import module 'broken': No module named 'module_that_is_not_there'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    logs = _attempt_logs(h, request_id)
    assert len(logs) == 2
    assert all("[ERROR] Runtime.ImportModuleError: Unable to import module 'broken'" in text for text in logs)


def test_a_functions_own_asynchronous_invoke_reaches_the_engine(harness, caplog):
    with caplog.at_level("WARNING", logger="asyncrun.service.engine"):
        h = harness("environments")
    # Given a function that invokes another one asynchronously with boto3
    caller = h.engine.invoke_async(
        "Isolated", {"action": "invoke", "target": h.name("Isolated"), "payload": {"action": "counter"}}
    )
    h.run()
    if h.endpoint.url:
        # An endpoint in another process gets the call itself (a documented gap), and the
        # run says so: the invoked function does not run in the engine
        assert "go to " + h.endpoint.url + ", not to asyncrun" in caplog.text
        assert [e for e in h.engine.trace if e.kind == "accepted" and e.source == "invoke"] == [
            e for e in h.engine.trace if e.kind == "accepted" and e.request_id == caller
        ]
        return
    # Then the call was accepted with 202, and the invoked event ran, one hop further on
    records = {r["requestContext"]["requestId"]: r for r in h.bodies("SuccessQueue")}
    answer = records[caller]["responsePayload"]
    assert answer["status"] == 202
    invoked = records[answer["request_id"]]
    assert invoked["requestPayload"] == {"action": "counter"}
    accepted = [e for e in h.engine.trace if e.kind == "accepted" and e.request_id == answer["request_id"]]
    assert [(e.source, e.hops) for e in accepted] == [("invoke", 1)]


def test_a_functions_own_request_response_invoke_returns_the_targets_answer(harness, caplog):
    with caplog.at_level("WARNING", logger="asyncrun.service.engine"):
        h = harness("environments")
    if h.endpoint.url:
        # An endpoint in another process gets the call itself (the documented gap): the run says so
        assert "go to " + h.endpoint.url + ", not to asyncrun" in caplog.text
        return
    neighbour = h.name("Neighbour")
    # Given a function that invokes another one synchronously with boto3
    answer = _sync(h, "Isolated", {"action": "invoke_sync", "target": neighbour, "payload": {"n": 1}})[1]
    # Then it gets the target's answer, as Lambda gives it
    assert answer == {
        "status": 200,
        "function_error": None,
        "executed_version": "$LATEST",
        "payload": {"echo": {"n": 1}},
    }
    # And the target ran in the engine, one hop along the caller's chain, while the caller waited
    [caller_started] = [
        e for e in h.engine.trace if e.kind == "attempt_started" and e.function == h.name("Isolated")
    ]
    [target_started] = [e for e in h.engine.trace if e.kind == "attempt_started" and e.function == neighbour]
    assert h.engine.trace.index(caller_started) < h.engine.trace.index(target_started)

    # When the target fails, the caller gets its error and FunctionError
    failed = _sync(
        h, "Isolated", {"action": "invoke_sync", "target": neighbour, "payload": {"action": "exit"}}
    )[1]
    assert (failed["status"], failed["function_error"]) == (200, "Unhandled")
    assert failed["payload"]["errorType"] == "Runtime.ExitError"


def test_a_loop_through_the_sdk_is_stopped_while_attempts_run_in_parallel(harness, caplog):
    # Given two loops through lambda.invoke, started together, on the real clock (attempts
    # of different events run at once, in wall time)
    with caplog.at_level("WARNING", logger="asyncrun.service.engine"):
        h = harness("environments", clock=RealClock())
    if h.endpoint.url:
        # An endpoint in another process gets the calls itself (the documented gap): the run says so
        assert "go to " + h.endpoint.url + ", not to asyncrun" in caplog.text
        return
    for chain in ("a", "b"):
        h.engine.invoke_async("Isolated", {"action": "loop", "chain": chain})
    h.run()
    # Then each loop is stopped after RECURSION_LIMIT invocations, whatever ran beside it
    dropped = h.bodies("FailureQueue")
    assert sorted(r["requestPayload"]["chain"] for r in dropped) == ["a", "b"]
    assert {r["requestContext"]["condition"] for r in dropped} == {"RecursiveInvocationDropped"}
    assert h.metric("Isolated", RECURSIVE_INVOCATIONS_DROPPED) == 2
    assert h.metric("Isolated", INVOCATIONS) == 2 * RECURSION_LIMIT
    assert len(h.bodies("SuccessQueue")) == 2 * RECURSION_LIMIT
    hops = sorted(e.hops for e in h.engine.trace if e.kind == "accepted")
    assert hops == sorted(list(range(RECURSION_LIMIT + 1)) * 2)
    # And the loops' attempts overlapped: the second started before the first ended
    starts = [e for e in h.engine.trace if e.kind == "attempt_started"]
    first_end = next(e for e in h.engine.trace if e.kind == "attempt_finished")
    assert h.engine.trace.index(starts[1]) < h.engine.trace.index(first_end)


def test_a_process_that_exits_during_init_fails_the_attempt_with_the_exit_error(harness):
    h = harness("environments")
    result, error = _sync(h, "ExitsAtInit", {})
    assert result.function_error == "Unhandled"
    assert error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 2",
    }
