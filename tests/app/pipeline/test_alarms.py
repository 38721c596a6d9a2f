"""The debug queue holds invocation records only. The stack's CloudWatch alarms publish
to a topic that does not feed it, and the queue's subscription lets through only what
has an invocation record's `requestContext.condition`, so that an alarm notification
(the queue-age alarm's own, above all) never lands beside the records, ages there and
keeps that alarm firing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.app.pipeline.conftest import Pipeline
from tests.support.template import project_template

pytestmark = pytest.mark.pipeline


def _alarm_notification(state: str, pipeline: Pipeline) -> dict[str, Any]:
    """What CloudWatch publishes to an alarm's SNS action."""
    stack = pipeline.stack
    name = f"{stack.name}-alarm-debug-queue-age"
    return {
        "AlarmName": name,
        "AlarmDescription": "A failed invocation record has waited in the debug queue for over an hour.",
        "AWSAccountId": stack.account_id,
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [3900.0] was greater than the threshold (3600.0).",
        "StateChangeTime": "2026-11-01T13:05:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:{stack.region}:{stack.account_id}:alarm:{name}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "Trigger": {
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Namespace": "AWS/SQS",
            "Statistic": "MAXIMUM",
            "Dimensions": [{"name": "QueueName", "value": pipeline.parts.debug_queue.name}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 3600.0,
        },
    }


def _alarm_topic_arns(pipeline: Pipeline) -> set[str]:
    """The topics the template's alarms notify (AlarmActions and OKActions)."""
    template = project_template()
    topic_ids = {
        action["Ref"]
        for alarm in template.of_type("AWS::CloudWatch::Alarm")
        for actions in ("AlarmActions", "OKActions")
        for action in template.properties(alarm).get(actions, [])
    }
    return {pipeline.stack.topics[topic_id].arn for topic_id in topic_ids}


def test_given_alarms_when_they_notify_then_nothing_reaches_the_debug_queue(pipeline: Pipeline) -> None:
    # Given: the topics the alarms publish to, none of them the alert topic
    topics = _alarm_topic_arns(pipeline)
    assert topics
    assert pipeline.parts.alert_topic.arn not in topics

    # When: every alarm topic carries an ALARM and an OK notification
    sns = pipeline.endpoint.client("sns")
    for topic in topics:
        for state in ("ALARM", "OK"):
            sns.publish(TopicArn=topic, Message=json.dumps(_alarm_notification(state, pipeline)))

    # Then
    assert pipeline.debug_messages() == []


def test_given_an_alarm_notification_on_the_alert_topic_then_only_invocation_records_reach_the_queue(
    pipeline: Pipeline,
) -> None:
    # Given: an alarm notification published to the alert topic itself ...
    alarm = json.dumps(_alarm_notification("ALARM", pipeline))
    pipeline.endpoint.client("sns").publish(TopicArn=pipeline.parts.alert_topic.arn, Message=alarm)
    # ... and an upload that fails, whose record takes the same topic
    pipeline.upload("orders-export.xlsx", "incoming/bad/orders-export.xlsx")

    # When
    pipeline.run()

    # Then: the queue holds the failure's record, and only it
    (message,) = pipeline.debug_messages()
    record = json.loads(message)
    assert record["requestContext"]["condition"]
    assert record["requestContext"]["functionArn"] == pipeline.parts.alias_arn(pipeline.parts.upload)
    assert record["responsePayload"]["errorType"] == "UnsupportedFormatError"
    assert len(pipeline.alerts()) == 1
