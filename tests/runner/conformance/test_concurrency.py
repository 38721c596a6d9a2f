"""Concurrency as Lambda counts it (docs/async-semantics.md, "Concurrency"): a function
runs at most its reserved concurrency at once, the others share the account's
unreserved pool; an asynchronous event that finds no free slot is throttled and backs
off without using a retry, a synchronous invoke gets 429 with Lambda's reason. On the
virtual clock attempts overlap in virtual time."""

from __future__ import annotations

import pytest

from asyncrun.errors import CommandError, TemplateError, TooManyRequestsError
from asyncrun.runtimes.environments import ProcessExecutor
from asyncrun.service.clock import RealClock, VirtualClock
from asyncrun.service.concurrency import ACCOUNT_LIMIT, RESERVED_LIMIT
from asyncrun.service.faults import Fault
from asyncrun.service.metrics import CONCURRENT_EXECUTIONS, INVOCATIONS, THROTTLES
from asyncrun.service.trace import AttemptFinished, AttemptStarted, EventFinished

SLOW = {"action": "sleep", "seconds": 0.3}


def _reserve(n):
    def edit(stack):
        stack.functions["Unconfigured"].reserved_concurrency = n

    return edit


def _runs(h, request_ids):
    """Each event's attempts that ran the function, as (start, end) on the engine's clock."""
    starts = {
        (e.request_id, e.attempt): e.at
        for e in h.engine.trace
        if isinstance(e, AttemptStarted) and e.request_id in request_ids
    }
    return {
        request_id: [
            (starts[(e.request_id, e.attempt)], e.at)
            for e in h.engine.trace
            if isinstance(e, AttemptFinished) and e.request_id == request_id and e.outcome != "throttled"
        ]
        for request_id in request_ids
    }


def _throttles(h, request_id):
    return [
        e
        for e in h.engine.trace
        if isinstance(e, AttemptFinished) and e.request_id == request_id and e.outcome == "throttled"
    ]


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def test_with_reserved_concurrency_1_three_slow_events_run_one_after_another(harness):
    h = harness("core", edit=_reserve(1))
    ids = [h.engine.invoke_async("Unconfigured", SLOW) for _ in range(3)]
    h.run()

    runs = _runs(h, ids)
    assert all(len(runs[i]) == 1 for i in ids)
    first, second, third = (runs[i][0] for i in ids)
    assert first[1] <= second[0]
    assert second[1] <= third[0]
    # The 2nd and 3rd found the slot taken: throttled first, with the reservation's reason
    assert _throttles(h, ids[0]) == []
    for request_id in ids[1:]:
        throttled = _throttles(h, request_id)
        assert throttled
        assert all(RESERVED_LIMIT in (t.error_message or "") for t in throttled)
    # Throttles use no retry: each event succeeds with one counted invocation
    finished = {e.request_id: e for e in h.engine.trace if isinstance(e, EventFinished)}
    assert [(finished[i].condition, finished[i].approximate_invoke_count) for i in ids] == [
        ("Success", 1)
    ] * 3
    assert h.metric("Unconfigured", THROTTLES) == len(_throttles(h, ids[1])) + len(_throttles(h, ids[2]))
    assert h.metric("Unconfigured", INVOCATIONS) == 3
    assert h.metric("Unconfigured", CONCURRENT_EXECUTIONS) == 1


def test_with_reserved_concurrency_2_two_slow_events_run_at_once(harness):
    h = harness("core", edit=_reserve(2))
    ids = [h.engine.invoke_async("Unconfigured", SLOW) for _ in range(3)]
    h.run()

    runs = _runs(h, ids)
    first, second, third = (runs[i][0] for i in ids)
    assert first[0] == second[0]  # both started when queued
    assert _overlap(first, second)
    assert third[0] >= min(first[1], second[1])
    assert (_throttles(h, ids[0]), _throttles(h, ids[1])) == ([], [])
    assert _throttles(h, ids[2])
    assert h.metric("Unconfigured", CONCURRENT_EXECUTIONS) == 2


def test_without_a_reservation_events_share_the_accounts_pool(harness):
    h = harness("core", account_concurrency=1)
    ids = [h.engine.invoke_async("Unconfigured", SLOW) for _ in range(2)]
    h.run()
    first, second = (_runs(h, ids)[i][0] for i in ids)
    assert first[1] <= second[0]
    throttled = _throttles(h, ids[1])
    assert throttled
    assert all(ACCOUNT_LIMIT in (t.error_message or "") for t in throttled)


def test_without_limits_events_queued_together_overlap_each_in_an_environment_of_its_own(harness, caplog):
    h = harness("core")
    ids = [h.engine.invoke_async("Worker", SLOW) for _ in range(3)]
    h.run()
    runs = [_runs(h, ids)[i][0] for i in ids]
    assert {start for start, _ in runs} == {runs[0][0]}
    assert sum(len(_throttles(h, i)) for i in ids) == 0
    assert h.metric("Worker", CONCURRENT_EXECUTIONS) == 3
    environments = {
        r["responsePayload"]["environment"]
        for r in h.bodies("SuccessQueue")
        if r["requestContext"]["requestId"] in ids
    }
    warnings = [r.getMessage() for r in caplog.records if "attempts overlap" in r.getMessage()]
    if h.executor == "process":
        # Overlapping in virtual time, each attempt had an environment of its own
        assert len(environments) == 3
        assert warnings == []
    else:
        # sam local keeps one container per function: the run says so, once
        [warning] = warnings
        assert f"(first of {h.name('Worker')})" in warning


@pytest.mark.in_process_only("asyncrun's own execution environments and their limit")
@pytest.mark.parametrize("clock", [VirtualClock, RealClock], ids=["virtual", "real"])
def test_past_the_limit_of_environments_overlapping_attempts_share_them_and_the_run_says_so(
    harness, endpoint, caplog, clock
):
    executor = ProcessExecutor(endpoint, region=endpoint.region, max_environments=2)
    try:
        with caplog.at_level("WARNING"):
            h = harness("core", executor=executor, clock=clock())
            ids = [h.engine.invoke_async("Worker", SLOW) for _ in range(4)]
            h.run()
        records = [r for r in h.bodies("SuccessQueue") if r["requestContext"]["requestId"] in ids]
    finally:
        executor.close()
    # Every event ran, once, in one of the two environments the limit allows
    assert len(records) == 4
    assert len({r["responsePayload"]["environment"] for r in records}) == 2
    assert f"more than 2 attempts of {h.name('Worker')} run at once" in caplog.text


def test_a_synchronous_invoke_beyond_the_reservation_gets_429_with_lambdas_reason(harness):
    h = harness("core", edit=_reserve(1))
    h.engine.invoke_async("Unconfigured", SLOW)
    assert h.engine.step() is True  # the attempt starts and holds the only slot
    assert h.engine.running == 1

    with pytest.raises(TooManyRequestsError) as throttled:
        h.engine.invoke_sync("Unconfigured", {})
    assert (throttled.value.status, throttled.value.code) == (429, "TooManyRequestsException")
    assert throttled.value.body() == {"Type": "User", "message": "Rate Exceeded.", "Reason": RESERVED_LIMIT}
    assert h.metric("Unconfigured", THROTTLES) == 1

    # Once the attempt has ended, the slot is free again
    h.run()
    assert h.engine.invoke_sync("Unconfigured", {"n": 1}).status_code == 200


def test_a_synchronous_invoke_beyond_the_accounts_pool_gets_the_account_reason(harness):
    h = harness("core", account_concurrency=1)
    h.engine.invoke_async("Twin", SLOW)
    h.engine.step()
    with pytest.raises(TooManyRequestsError) as throttled:
        h.engine.invoke_sync("Unconfigured", {})
    assert throttled.value.reason == ACCOUNT_LIMIT


def test_a_reserved_function_does_not_draw_on_the_accounts_pool(harness):
    h = harness("core", edit=_reserve(1), account_concurrency=101)
    h.engine.invoke_async("Unconfigured", SLOW)
    h.engine.step()  # the reserved function runs; the 100 unreserved stay free
    assert h.engine.invoke_sync("Twin", {}).status_code == 200


def test_reservations_must_leave_100_unreserved(harness):
    with pytest.raises(TemplateError, match="below its minimum of 100"):
        harness("core", edit=_reserve(60), account_concurrency=150)
    with pytest.raises(CommandError, match="at least 1"):
        harness("core", account_concurrency=0)


def test_the_same_inputs_give_the_same_trace(harness):
    def sequence():
        # Overlapping attempts, throttles, and failures drawn from the seed, then retried
        h = harness("core", edit=_reserve(2), seed=7, faults=(Fault("Unconfigured", "error", 0.5),))
        ids = [h.engine.invoke_async("Unconfigured", SLOW) for _ in range(4)]
        h.run()
        index = {request_id: n for n, request_id in enumerate(ids)}
        start = h.engine.trace[0].at
        return [
            (e.kind, index.get(e.request_id), getattr(e, "outcome", None), round(e.at - start, 3))
            for e in h.engine.trace
        ]

    assert sequence() == sequence()
