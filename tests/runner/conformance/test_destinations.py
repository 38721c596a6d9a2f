"""docs/async-semantics.md R5: destinations of every type, and deliveries that fail."""

from __future__ import annotations

import json
import re

import pytest

from asyncrun.service.clock import VirtualClock
from asyncrun.service.metrics import DESTINATION_DELIVERY_FAILURES, INVOCATIONS
from asyncrun.stack.model import InvokeConfig

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(("action", "condition"), [("echo", "Success"), ("raise", "RetriesExhausted")])
def test_sqs_gets_the_record_as_the_body_without_message_attributes(harness, action, condition):
    h = harness("core")
    h.engine.invoke_async("Aliased", {"action": action}, qualifier="live")
    h.run()
    [message] = h.messages("SuccessQueue" if condition == "Success" else "FailureQueue")
    assert "MessageAttributes" not in message
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == condition
    assert message["Body"] == h.engine.deliveries[0].body


@pytest.mark.parametrize(("action", "condition"), [("echo", "Success"), ("raise", "RetriesExhausted")])
def test_sns_message_is_the_record(harness, action, condition):
    h = harness("destinations")
    h.engine.invoke_async("ToTopic", {"action": action})
    h.run()
    record = h.one_body("TopicQueue")  # raw delivery: the SNS Message itself
    assert record["requestContext"]["condition"] == condition
    assert record["requestPayload"] == {"action": action}


def test_sns_over_256_kb_drops_the_payloads_of_an_on_failure_record(harness):
    h = harness("destinations")
    h.engine.invoke_async("ToTopic", {"action": "raise", "pad": "x" * 300_000})
    h.run()
    record = h.one_body("TopicQueue")
    assert list(record) == ["version", "timestamp", "requestContext", "responseContext"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert h.metric("ToTopic", DESTINATION_DELIVERY_FAILURES) == 0


def test_sns_over_256_kb_on_success_fails_and_is_counted(harness):
    h = harness("destinations")
    h.engine.invoke_async("ToTopic", {"pad": "x" * 200_000})  # request + echoed response: 400 KB
    h.run()
    assert h.bodies("TopicQueue") == []
    assert h.metric("ToTopic", DESTINATION_DELIVERY_FAILURES) == 1


@pytest.mark.parametrize(("action", "condition"), [("echo", "Success"), ("raise", "RetriesExhausted")])
def test_a_lambda_destination_gets_the_record_as_its_async_event(harness, action, condition):
    h = harness("destinations")
    h.engine.invoke_async("ToLambda", {"action": action})
    h.run()
    received = h.one_body("RecordQueue")
    record = received["event"]
    assert record["requestContext"]["condition"] == condition
    assert record["requestContext"]["functionArn"] == f"{h.function('ToLambda').arn}:$LATEST"
    assert received["requestId"] != record["requestContext"]["requestId"]  # its own invocation
    accepted = [e for e in h.engine.trace if e.kind == "accepted" and e.function == h.name("Recorder")]
    assert [(e.source, e.hops) for e in accepted] == [("destination", 1)]
    assert h.metric("Recorder", INVOCATIONS) == 1


def test_a_lambda_destination_through_an_alias_runs_the_alias(harness):
    # Given Worker's OnSuccess is Aliased:live, whose own alias config sends to SuccessQueue
    h = harness("core")
    aliased = h.function("Aliased")
    h.engine.put_invoke_config(InvokeConfig(h.name("Worker"), on_success=f"{aliased.arn}:live"))
    h.engine.invoke_async("Worker", {"n": 1})
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["functionArn"] == f"{aliased.arn}:live"
    assert record["requestPayload"]["requestContext"]["functionArn"] == f"{h.function('Worker').arn}:$LATEST"


@pytest.mark.parametrize(("action", "outcome"), [("echo", "Success"), ("raise", "Failure")])
def test_eventbridge_gets_a_lambda_event_with_the_record_as_detail(harness, action, outcome):
    h = harness("destinations")
    h.engine.invoke_async("ToBus", {"action": action})
    h.run()
    event = h.one_body("BusQueue")  # through the rule's SQS target
    bus_arn = h.stack.buses["Bus"].arn
    assert event["source"] == "lambda"
    assert event["detail-type"] == f"Lambda Function Invocation Result - {outcome}"
    assert event["resources"] == [bus_arn, f"{h.function('ToBus').arn}:$LATEST"]
    assert event["detail"]["requestPayload"] == {"action": action}
    assert list(event["detail"])[:3] == ["version", "timestamp", "requestContext"]


def test_s3_on_failure_writes_one_object_per_record_under_the_async_prefix(harness):
    h = harness("destinations", clock=VirtualClock(start=START))
    h.engine.invoke_async("ToBucket", {"action": "raise"})
    h.engine.invoke_async("ToBucket", {"action": "echo"})  # success: no OnSuccess, nothing written
    h.run()
    bucket = h.stack.buckets["FailureBucket"].name
    s3 = h.endpoint.client("s3")
    [item] = s3.list_objects_v2(Bucket=bucket)["Contents"]
    name = h.name("ToBucket")
    assert re.fullmatch(
        rf"aws/lambda/async/{re.escape(name)}/2027/01/15/2027-01-15T08\.00\.0\d-"
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        item["Key"],
    ), item["Key"]
    record = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    assert record["requestContext"]["condition"] == "RetriesExhausted"


def test_fifo_queue_and_topic_are_accepted_but_fail_at_delivery(harness):
    h = harness("destinations")
    h.engine.invoke_async("ToFifo", {"action": "echo"})
    h.engine.invoke_async("ToFifo", {"action": "raise"})
    h.run()
    assert h.metric("ToFifo", DESTINATION_DELIVERY_FAILURES) == 2
    # Two independent events: Lambda does not order them, and their attempts overlap
    assert sorted((d.kind, d.destination_type, d.ok) for d in h.engine.deliveries) == [
        ("on_failure", "sns", False),
        ("on_success", "sqs", False),
    ]
    assert h.messages("FifoQueue") == []


def test_missing_targets_lose_the_record_and_count_a_failure(harness):
    h = harness("destinations")
    h.engine.invoke_async("ToMissing", {"action": "echo"})
    h.engine.invoke_async("ToMissing", {"action": "raise"})
    summary = h.engine.run_until_idle()  # never raises out of the engine
    assert summary.pending == 0
    assert h.metric("ToMissing", DESTINATION_DELIVERY_FAILURES) == 2
    delivery_events = [e for e in h.engine.trace if e.kind == "delivery"]
    assert [e.ok for e in delivery_events] == [False, False]
    assert all(e.error for e in delivery_events)


def test_destinations_fire_only_for_asynchronous_invocations(harness):
    h = harness("core")
    result = h.engine.invoke_sync("Worker", {"n": 1})
    h.run()
    assert json.loads(result.payload) == {"echo": {"n": 1}}
    assert result.function_error is None
    assert h.messages("SuccessQueue") == []
    failed = h.engine.invoke_sync("Worker", {"action": "raise"})
    assert failed.function_error == "Unhandled"
    assert json.loads(failed.payload)["errorType"] == "OrderRejected"
    assert h.messages("FailureQueue") == []
    assert h.engine.deliveries == []
