"""docs/async-semantics.md R7.1: the metrics, counted per function."""

from __future__ import annotations

from asyncrun.service.faults import Fault
from asyncrun.service.metrics import COUNTERS
from asyncrun.stack.model import InvokeConfig


def test_each_metric_counts_what_happened(harness):
    # Given: one success, one event failing three times, one throttled once, one zero-concurrency event,
    # one destination that cannot be delivered, one dead-letter queue that is gone
    def missing_dlq(stack):
        function = stack.functions["DeadLetterToQueue"]
        function.dead_letter_target_arn = f"arn:aws:sqs:{stack.region}:{stack.account_id}:gone"

    h = harness("core", faults=(Fault("Twin", "throttle", times=1),), edit=missing_dlq)
    worker, twin, zero, dlq = (h.name(x) for x in ("Worker", "Twin", "Zero", "DeadLetterToQueue"))
    h.engine.invoke_async("Worker", {"n": 1})
    h.engine.invoke_async("Worker", {"action": "raise"})
    h.engine.invoke_async("Twin", {"n": 2})
    h.engine.invoke_async("Zero", {"n": 3})
    h.engine.invoke_async("DeadLetterToQueue", {"action": "raise"})
    gone = f"arn:aws:sqs:{h.stack.region}:{h.stack.account_id}:gone"
    h.engine.put_invoke_config(InvokeConfig(h.name("Twin"), on_success=gone))
    h.run()
    metrics = h.engine.metrics.as_dict()
    counts = {name: {m: metrics[name][m] for m in COUNTERS if metrics[name][m]} for name in metrics}
    assert counts[worker] == {
        "AsyncEventsReceived": 2,
        "Invocations": 4,
        "Errors": 3,
        "AsyncEventsDropped": 1,
    }
    assert counts[twin] == {
        "AsyncEventsReceived": 1,
        "Invocations": 1,
        "Throttles": 1,
        "DestinationDeliveryFailures": 1,
    }
    assert counts[zero] == {"AsyncEventsReceived": 1, "AsyncEventsDropped": 1}
    assert counts[dlq] == {
        "AsyncEventsReceived": 1,
        "Invocations": 1,
        "Errors": 1,
        "AsyncEventsDropped": 1,
        "DeadLetterErrors": 1,
    }
    # AsyncEventAge: one sample per attempt that reached the function (not the throttle), in ms
    assert metrics[worker]["AsyncEventAge"]["count"] == 4
    assert metrics[twin]["AsyncEventAge"]["count"] == 1
    assert metrics[twin]["AsyncEventAge"]["max"] >= 1000  # run 1 s after the throttle
