"""Fault injection: errors, throttles and duplicates, by function, payload and chance."""

from __future__ import annotations

import json

import pytest

from asyncrun.service.faults import Fault, FaultInjector, parse_fault
from asyncrun.service.metrics import INVOCATIONS


def test_an_error_fault_fails_the_attempt_without_running_the_handler(harness):
    h = harness("core")
    before = h.engine.invoke_sync("Worker", {"action": "counter"})  # the layer's count so far
    h.engine.faults.add(Fault("Worker", "error", times=1))
    h.engine.invoke_async("Worker", {"action": "counter"})
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 2
    # the handler ran once: on the retry
    assert record["responsePayload"] == {"count": json.loads(before.payload)["count"] + 1}
    [failed] = [e for e in h.engine.trace if e.kind == "attempt_finished" and e.outcome == "error"]
    assert failed.error_type == "InjectedFunctionError"


def test_an_error_fault_is_an_unhandled_error_in_the_record(harness):
    h = harness("core", faults=(Fault("Worker", "error"),))
    h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "InjectedFunctionError"
    assert "Fault injected" in record["responsePayload"]["errorMessage"]


def test_match_limits_a_fault_to_payloads_containing_the_text(harness):
    h = harness("core", faults=(Fault("Worker", "error", match="poison"),))
    h.engine.invoke_async("Worker", {"item": "poison pill"})
    h.engine.invoke_async("Worker", {"item": "bread"})
    h.run()
    assert [r["requestPayload"]["item"] for r in h.bodies("SuccessQueue")] == ["bread"]
    assert [r["requestPayload"]["item"] for r in h.bodies("FailureQueue")] == ["poison pill"]


def test_a_duplicate_fault_queues_the_event_twice_with_the_same_request_id(harness):
    h = harness("core", faults=(Fault("Worker", "duplicate", times=1),))
    request_id = h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    records = h.bodies("SuccessQueue")
    assert [r["requestContext"]["requestId"] for r in records] == [request_id, request_id]
    assert h.metric("Worker", INVOCATIONS) == 2


def test_faults_target_a_function_by_logical_id_or_name(harness):
    h = harness("core")
    by_name = Fault(h.name("Twin"), "error", times=1)
    h.engine.faults.add(by_name)
    h.engine.invoke_async("Twin", {})
    h.run()
    assert by_name.triggered == 1


def test_probability_uses_a_seeded_generator():
    def decisions(seed):
        injector = FaultInjector([Fault("F", "error", probability=0.5)], seed=seed)
        return [bool(injector.trigger("error", logical_id="F", name="f", payload="{}")) for _ in range(40)]

    assert decisions(7) == decisions(7)
    assert 5 < sum(decisions(7)) < 35
    assert decisions(7) != decisions(8)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Process:error", Fault("Process", "error")),
        ("Process:throttle:0.25", Fault("Process", "throttle", 0.25)),
        ("Process:duplicate:1:3", Fault("Process", "duplicate", 1.0, 3)),
        ("Process:error::2", Fault("Process", "error", 1.0, 2)),
    ],
)
def test_parse_reads_function_kind_probability_and_times(text, fault):
    assert Fault.parse(text) == fault


@pytest.mark.parametrize(
    "text", ["Process", "Process:explode", "Process:error:2", "Process:error:x", ":error"]
)
def test_parse_refuses_malformed_text(text):
    with pytest.raises(ValueError, match="fault"):
        Fault.parse(text)


def test_times_bounds_how_often_a_fault_triggers():
    injector = FaultInjector([Fault("F", "throttle", times=2)])
    hits = [injector.trigger("throttle", logical_id="F", name="f", payload=json.dumps({})) for _ in range(4)]
    assert [bool(hit) for hit in hits] == [True, True, False, False]


def test_a_timeout_fault_fails_the_attempt_as_a_timed_out_one_after_the_functions_timeout(harness):
    h = harness("core", faults=(Fault("Worker", "timeout", times=1),))
    request_id = h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 2
    [timed_out] = [e for e in h.engine.trace if e.kind == "attempt_finished" and e.outcome != "success"]
    assert (timed_out.outcome, timed_out.error_type) == ("timeout", "Sandbox.Timedout")
    assert timed_out.error_message == f"RequestId: {request_id} Error: Task timed out after 3.00 seconds"
    # the attempt took the function's whole Timeout (3 s) on the clock, then the retry waited 60 s
    first, second = h.attempt_starts(request_id)
    assert second - first == 3 + 60


def test_a_crash_fault_fails_the_attempt_with_runtime_exit_error(harness):
    h = harness("core", faults=(Fault("Worker", "crash"),))
    request_id = h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 1",
    }


@pytest.mark.in_process_only("a container's environment is sam local's to discard, not the executor's")
@pytest.mark.parametrize("kind", ["timeout", "crash"])
def test_after_an_injected_timeout_or_crash_the_next_attempt_starts_cold(harness, kind):
    h = harness("core")
    warm = json.loads(h.engine.invoke_sync("Worker", {"action": "counter"}).payload)["count"]
    assert warm >= 1
    h.engine.faults.add(Fault("Worker", kind, times=1))
    h.engine.invoke_async("Worker", {"action": "counter"})
    h.run()
    # the layer's module state started again: a new environment ran the retry
    assert h.one_body("SuccessQueue")["responsePayload"] == {"count": 1}


def without_sdk_retries(stack):
    """The Worker's SDK makes one attempt per call (botocore reads AWS_MAX_ATTEMPTS), so a
    faulted call fails the invocation without the SDK's backoff."""
    stack.functions["Worker"].environment["AWS_MAX_ATTEMPTS"] = "1"


def test_an_aws_call_fault_fails_the_functions_calls_until_its_retries_are_exhausted(harness, caplog):
    # fail_times reads and writes its count in S3: every attempt's GetObject is throttled
    h = harness("core", faults=(parse_fault("Worker:aws:s3:throttle"),), edit=without_sdk_retries)
    h.engine.invoke_async("Worker", {"action": "fail_times", "key": "call-fault", "times": 0})
    h.run()
    if not h.endpoint.embedded:  # a URL endpoint's calls never pass the loopback front
        assert "not injected" in caplog.text
        assert h.one_body("SuccessQueue")["responsePayload"] == {"succeeded_on_attempt": 1}
        return
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 3
    error = record["responsePayload"]
    assert error["errorType"] == "ClientError"
    assert "(SlowDown) when calling the GetObject operation" in error["errorMessage"]


def test_an_aws_call_fault_on_one_operation_lets_the_others_through(harness):
    h = harness(
        "core", faults=(parse_fault("Worker:aws:s3.PutObject:unavailable::1"),), edit=without_sdk_retries
    )
    h.engine.invoke_async("Worker", {"action": "fail_times", "key": "put-fault", "times": 0})
    h.run()
    # The first attempt read no count (GetObject passed: NoSuchKey) and failed to write it;
    # the retry, with the fault spent, counts itself as the first attempt that wrote
    record = h.one_body("SuccessQueue")
    expected_invokes = 2 if h.endpoint.embedded else 1
    assert record["requestContext"]["approximateInvokeCount"] == expected_invokes
    assert record["responsePayload"] == {"succeeded_on_attempt": 1}
    failures = [e for e in h.engine.trace if e.kind == "attempt_finished" and e.outcome == "error"]
    if h.endpoint.embedded:
        [failed] = failures
        assert "(ServiceUnavailable) when calling the PutObject operation" in failed.error_message
