"""docs/async-semantics.md R2: running, retrying, throttles, event age, timeouts."""

from __future__ import annotations

import itertools

import pytest

from asyncrun.service.faults import Fault
from asyncrun.service.metrics import ERRORS, INVOCATIONS, THROTTLES
from asyncrun.stack.model import InvokeConfig


def _config(h, logical_id, **changes):
    current = h.engine.invoke_configs.get(h.name(logical_id))
    h.engine.put_invoke_config(InvokeConfig(**{**current.__dict__, **changes}))


def _finished(h, request_id):
    return [e for e in h.engine.trace if e.kind == "attempt_finished" and e.request_id == request_id]


def test_every_attempt_of_an_event_uses_the_same_request_id(harness):
    # Given a function that fails twice, then succeeds
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"action": "fail_times", "times": 2, "key": "same-id"})
    h.run()
    record = h.one_body("SuccessQueue")
    # Then one event ran three times under one request id (the function's own view of
    # it: test_executor::test_asynchronous_attempts_get_the_events_request_id_in_the_context)
    assert record["responsePayload"] == {"succeeded_on_attempt": 3}
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert {e.request_id for e in h.engine.trace} == {request_id}


def test_a_function_error_is_retried_twice_by_default_then_retries_exhausted(harness):
    h = harness("core")
    h.engine.invoke_async("Unconfigured", {"action": "raise"})
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    # A function without any config has the defaults: two retries
    assert h.metric("Unconfigured", INVOCATIONS) == 3
    assert h.metric("Worker", ERRORS) == 3


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (2, 3)])
def test_maximum_retry_attempts_bounds_the_attempts(harness, retries, attempts):
    h = harness("core")
    _config(h, "Worker", maximum_retry_attempts=retries)
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    assert h.one_body("FailureQueue")["requestContext"]["approximateInvokeCount"] == attempts


def test_retries_come_60_s_then_120_s_after_the_failed_attempts(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    starts = h.attempt_starts(request_id)
    ends = [e.at for e in _finished(h, request_id)]
    assert len(starts) == 3
    assert starts[1] - ends[0] == pytest.approx(60.0)
    assert starts[2] - ends[1] == pytest.approx(120.0)
    delays = [e.delay for e in h.engine.trace if e.kind == "retry_scheduled"]
    assert delays == [60.0, 120.0]


@pytest.mark.parametrize(("age", "count"), [(60, 1), (90, 2), (200, 3)])
def test_event_age_is_decided_ahead_of_the_next_retry(harness, age, count):
    # Observed on AWS: age 60 with 2 retries ends after attempt 1, age 90 after attempt 2
    h = harness("core")
    _config(h, "Worker", maximum_event_age_seconds=age)
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    record = h.one_body("FailureQueue")
    expected = "EventAgeExceeded" if count < 3 else "RetriesExhausted"
    assert record["requestContext"]["condition"] == expected
    assert record["requestContext"]["approximateInvokeCount"] == count
    # ended at once: no attempt waits past the age
    assert h.metric("Worker", INVOCATIONS) == count


def test_event_age_exceeded_record_carries_the_last_attempts_error(harness):
    h = harness("core")
    _config(h, "Worker", maximum_event_age_seconds=60)
    h.engine.invoke_async("Worker", {"action": "raise", "message": "too old"})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "too old"


def test_a_timeout_is_an_unhandled_sandbox_timedout_error(harness):
    # Given Sleepy (Timeout: 1) sleeping 3 s
    h = harness("core")
    request_id = h.engine.invoke_async("Sleepy", {"action": "sleep", "seconds": 3})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    payload = record["responsePayload"]
    assert list(payload) == ["errorType", "errorMessage"]
    assert payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    [finished] = _finished(h, request_id)
    assert finished.outcome == "timeout"
    # the runner stopped waiting at the timeout instead of waiting for the 3 s sleep
    assert 1000 <= finished.duration_ms < 2900


def test_an_event_already_too_old_when_its_turn_comes_is_not_run(harness):
    h = harness("core")
    _config(h, "Worker", maximum_event_age_seconds=60)
    h.engine.invoke_async("Worker", {"n": 1})
    h.engine.clock.advance_to(h.engine.clock.now() + 61)  # e.g. a backlog on a real clock
    h.run()
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert h.metric("Worker", INVOCATIONS) == 0


def test_a_runtime_crash_is_an_unhandled_error(harness):
    h = harness("core")
    _config(h, "Worker", maximum_retry_attempts=0)
    request_id = h.engine.invoke_async("Worker", {"action": "exit"})
    h.run()
    record = h.one_body("FailureQueue")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3",
    }


def test_crashes_and_timeouts_are_retried_like_raised_errors(harness):
    h = harness("core")
    _config(h, "Sleepy", maximum_retry_attempts=1)
    crash = h.engine.invoke_async("Worker", {"action": "exit"})
    timeout = h.engine.invoke_async("Sleepy", {"action": "sleep", "seconds": 1.5})
    h.run()
    assert [e.outcome for e in _finished(h, crash)] == ["error", "error", "error"]
    assert [e.outcome for e in _finished(h, timeout)] == ["timeout", "timeout"]
    conditions = sorted(r["requestContext"]["condition"] for r in h.bodies("FailureQueue"))
    assert conditions == ["RetriesExhausted", "RetriesExhausted"]


def test_throttles_back_off_1_2_4_s_without_using_a_retry(harness):
    # Given three throttles and no retry allowed: a throttle must not use one
    h = harness("core", faults=(Fault("Worker", "throttle", times=3),))
    _config(h, "Worker", maximum_retry_attempts=0)
    request_id = h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    delays = [e.delay for e in h.engine.trace if e.kind == "retry_scheduled"]
    assert delays == [1.0, 2.0, 4.0]
    starts = h.attempt_starts(request_id)
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [1.0, 2.0, 4.0]
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert h.metric("Worker", THROTTLES) == 3
    assert h.metric("Worker", ERRORS) == 0


def test_throttle_backoff_doubles_up_to_five_minutes_until_the_event_is_too_old(harness):
    h = harness("core", faults=(Fault("Worker", "throttle"),))
    h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    delays = [e.delay for e in h.engine.trace if e.kind == "retry_scheduled"]
    assert delays[:10] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
    assert set(delays[10:]) == {300.0}
    assert sum(delays) < 21600 <= sum(delays) + 300.0
    record = h.one_body("FailureQueue")
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert h.metric("Worker", THROTTLES) == len(delays) + 1
    assert h.metric("Worker", INVOCATIONS) == 0


def test_async_event_age_is_recorded_for_every_attempt(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.run()
    ages = h.engine.metrics.ages(h.name("Worker"))
    assert ages == [e.age_ms for e in h.engine.trace if e.kind == "attempt_started"]
    assert ages[0] == 0
    assert ages[1] >= 60_000  # plus the first attempt's duration
    assert ages[2] >= 180_000


def test_step_runs_only_due_work_and_next_due_tells_when_more_is(harness):
    h = harness("core")
    h.engine.invoke_async("Worker", {"action": "raise"})
    assert h.engine.step() is True  # the attempt starts
    assert h.engine.running == 1
    assert h.engine.step() is True  # and ends: the clock moves to its end
    assert h.engine.running == 0
    due = h.engine.next_due()
    assert due is not None
    assert due - h.engine.clock.now() == pytest.approx(60.0)
    assert h.engine.step() is False
    h.engine.clock.advance_to(due)
    assert h.engine.step() is True


def test_events_due_together_run_in_the_order_they_were_queued(harness):
    h = harness("core")
    ids = [h.engine.invoke_async("Unconfigured", {"n": n}) for n in range(20)]
    h.run()
    started = [e.request_id for e in h.engine.trace if e.kind == "attempt_started"]
    assert started == ids
