"""SNS -> Lambda: a subscription with protocol `lambda` invokes the function
asynchronously with the SNS event as Lambda receives it, filter policies applied."""

from __future__ import annotations

import base64
import json
import re

from asyncrun.service.metrics import INVOCATIONS


def _recorded(h, queue: str) -> list[dict]:
    return [body["event"] for body in h.bodies(queue)]


def test_a_lambda_subscriber_gets_the_sns_event_with_every_field(harness):
    h = harness("sources")
    topic = h.stack.topics["Orders"].arn
    published = h.endpoint.client("sns").publish(
        TopicArn=topic,
        Message="an order",
        Subject="New order",
        MessageAttributes={
            "priority": {"DataType": "String", "StringValue": "high"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    h.run()
    [event] = _recorded(h, "SnsRecords")
    assert list(event) == ["Records"]
    [record] = event["Records"]
    assert list(record) == ["EventSource", "EventVersion", "EventSubscriptionArn", "Sns"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(f"{topic}:")
    sns = record["Sns"]
    assert list(sns) == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes",
    ]  # fmt: skip
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == published["MessageId"]
    assert sns["TopicArn"] == topic
    assert sns["Subject"] == "New order"
    assert sns["Message"] == "an order"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sns["Timestamp"])
    assert sns["Signature"]
    assert sns["SigningCertUrl"].startswith("https://sns.")
    assert sns["UnsubscribeUrl"].endswith(f"&SubscriptionArn={record['EventSubscriptionArn']}")
    assert sns["MessageAttributes"] == {
        "priority": {"Type": "String", "Value": "high"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
    }


def test_subject_is_null_without_one_and_each_message_is_its_own_invocation(harness):
    h = harness("sources")
    sns = h.endpoint.client("sns")
    for n in range(2):
        sns.publish(TopicArn=h.stack.topics["Results"].arn, Message=f"m{n}")
    h.run()
    events = _recorded(h, "SnsRecords")
    assert [e["Records"][0]["Sns"]["Message"] for e in events] == ["m0", "m1"]
    assert all(e["Records"][0]["Sns"]["Subject"] is None for e in events)
    assert all(e["Records"][0]["Sns"]["MessageAttributes"] == {} for e in events)
    accepted = [e for e in h.engine.trace if e.kind == "accepted" and e.function == h.name("SnsRecorder")]
    assert [e.source for e in accepted] == ["sns", "sns"]


def test_an_attribute_filter_policy_lets_only_matching_messages_through(harness):
    h = harness("sources")
    sns = h.endpoint.client("sns")
    topic = h.stack.topics["Orders"].arn
    for priority in ("low", "high"):
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"order": {"total": 1}}),
            MessageAttributes={"priority": {"DataType": "String", "StringValue": priority}},
        )
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"total": 1}}))
    h.run()
    [event] = _recorded(h, "SnsRecords")
    assert event["Records"][0]["Sns"]["MessageAttributes"]["priority"]["Value"] == "high"
    assert h.metric("SnsRecorder", INVOCATIONS) == 1


def test_a_message_body_filter_policy_reads_the_message(harness):
    h = harness("sources")
    sns = h.endpoint.client("sns")
    topic = h.stack.topics["Orders"].arn
    for total in (50, 150):
        sns.publish(TopicArn=topic, Message=json.dumps({"order": {"total": total}}))
    h.run()
    [event] = _recorded(h, "RuleRecords")
    assert json.loads(event["Records"][0]["Sns"]["Message"]) == {"order": {"total": 150}}
    assert h.metric("BodyRecorder", INVOCATIONS) == 1


def test_an_sns_destination_reaches_the_topics_lambda_subscribers(harness):
    h = harness("sources")
    request_id = h.engine.invoke_async("ToResults", {"n": 1})
    h.run()
    [event] = _recorded(h, "SnsRecords")
    sns = event["Records"][0]["Sns"]
    assert sns["TopicArn"] == h.stack.topics["Results"].arn
    record = json.loads(sns["Message"])
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "Success"
    # One hop further along the chain than the destination's source.
    [accepted] = [e for e in h.engine.trace if e.kind == "accepted" and e.source == "sns"]
    assert accepted.hops == 1
