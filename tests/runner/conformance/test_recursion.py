"""docs/async-semantics.md R8.1: recursive loops are stopped after 16 invocations."""

from __future__ import annotations

from asyncrun.service.engine import RECURSION_LIMIT
from asyncrun.service.metrics import INVOCATIONS, RECURSIVE_INVOCATIONS_DROPPED
from asyncrun.stack.model import InvokeConfig


def test_a_loop_through_s3_is_stopped_and_sent_to_on_failure(harness):
    # Given Looper, which writes to the bucket that notifies it
    h = harness("s3")
    bucket = h.stack.buckets["LoopBucket"].name
    h.endpoint.client("s3").put_object(Bucket=bucket, Key="k", Body=b"start")
    h.run()
    assert RECURSION_LIMIT == 16
    assert h.metric("Looper", INVOCATIONS) == 16
    assert h.metric("Looper", RECURSIVE_INVOCATIONS_DROPPED) == 1
    record = h.one_body("FailureQueue")
    assert list(record) == ["version", "timestamp", "requestContext", "requestPayload"]
    assert record["requestContext"]["condition"] == "RecursiveInvocationDropped"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "k" + "x" * 16
    hops = [e.hops for e in h.engine.trace if e.kind == "accepted"]
    assert hops == list(range(17))


def test_a_loop_through_lambda_destinations_is_stopped(harness):
    # Given Worker -> Twin -> Worker ... on success
    h = harness("core")
    h.engine.put_invoke_config(InvokeConfig(h.name("Worker"), on_success=h.function("Twin").arn))
    h.engine.put_invoke_config(InvokeConfig(h.name("Twin"), on_success=h.function("Worker").arn))
    h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    assert h.metric("Worker", INVOCATIONS) + h.metric("Twin", INVOCATIONS) == 16
    assert h.metric("Worker", RECURSIVE_INVOCATIONS_DROPPED) == 1  # the 17th invocation is Worker's
    chains = {e.request_id for e in h.engine.trace if e.kind == "accepted"}
    assert len(chains) == 17


def test_recursive_loop_allow_lets_the_loop_go_on(harness):
    def allow(stack):
        stack.functions["Looper"].recursive_loop = "Allow"

    h = harness("s3", edit=allow)
    h.endpoint.client("s3").put_object(Bucket=h.stack.buckets["LoopBucket"].name, Key="k", Body=b"start")
    summary = h.engine.run_until_idle(max_events=20)
    assert summary.processed == 20
    assert summary.pending == 1
    assert h.metric("Looper", RECURSIVE_INVOCATIONS_DROPPED) == 0


def test_a_loop_through_sns_is_stopped(harness):
    # Given SnsLooper, which publishes to the topic it is subscribed to
    h = harness("sources")
    h.endpoint.client("sns").publish(TopicArn=h.stack.topics["LoopTopic"].arn, Message="m")
    h.engine.run_until_idle(max_events=40)  # a guard that failed would loop for ever
    assert h.engine.pending == 0
    assert h.metric("SnsLooper", INVOCATIONS) == 16
    assert h.metric("SnsLooper", RECURSIVE_INVOCATIONS_DROPPED) == 1
    record = h.one_body("LoopFailures")
    assert record["requestContext"]["condition"] == "RecursiveInvocationDropped"
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "m" + "x" * 16
