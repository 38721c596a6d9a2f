"""SNS subscriptions with protocol `lambda`: the topic invokes the function
asynchronously with the SNS event (one record per message).

moto would invoke a Lambda subscriber through Docker, so the subscription is never
created at the endpoint as such. In its place an internal SQS queue of the runner's
is subscribed to the topic with the same filter policy and scope: the endpoint does
the filtering, and what reaches the queue (SNS's JSON envelope) becomes the event
Lambda receives. Whatever publishes to the topic - a function, a destination, a test -
reaches its Lambda subscribers this way."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from asyncrun.service.sources import SourceInvocation, internal_queue_name, is_stack_function, receive_all
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack, SubscriptionSpec

log = logging.getLogger(__name__)


@dataclass
class _Subscriber:
    spec: SubscriptionSpec
    queue_url: str
    subscription_arn: str  # the stand-in subscription's, as the event's EventSubscriptionArn


class SnsBridge:
    def __init__(self, stack: Stack, endpoint: Endpoint) -> None:
        self._stack = stack
        self._endpoint = endpoint
        self._subscribers: list[_Subscriber] = []

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    def install(self) -> None:
        for spec in self._stack.subscriptions:
            if spec.protocol != "lambda":
                continue
            if not is_stack_function(self._stack, spec.endpoint):
                log.warning(
                    "SNS subscription %s: %s is not a function of this stack; its messages are not delivered",
                    spec.logical_id,
                    spec.endpoint,
                )
                continue
            if spec.topic_arn.endswith(".fifo"):
                log.warning(
                    "SNS subscription %s: a FIFO topic cannot have a Lambda subscriber (SNS refuses it); "
                    "not delivered",
                    spec.logical_id,
                )
                continue
            for setting in spec.unapplied:
                log.warning(
                    "SNS subscription %s: %s is not applied locally (delivering a message to a Lambda "
                    "subscriber never fails here)",
                    spec.logical_id,
                    setting,
                )
            self._subscribers.append(self._subscribe(spec))

    def _subscribe(self, spec: SubscriptionSpec) -> _Subscriber:
        sqs = self._endpoint.client("sqs")
        name = internal_queue_name(self._stack, "sns", spec.logical_id)
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes: dict[str, str] = {}
        if spec.filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(spec.filter_policy)
            attributes["FilterPolicyScope"] = spec.filter_policy_scope or "MessageAttributes"
        # Subscribing the same queue again returns the existing subscription.
        arn = self._endpoint.client("sns").subscribe(
            TopicArn=spec.topic_arn,
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:{self._stack.region}:{self._stack.account_id}:{name}",
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        for attribute, value in attributes.items():
            self._endpoint.client("sns").set_subscription_attributes(
                SubscriptionArn=arn, AttributeName=attribute, AttributeValue=value
            )
        log.debug(
            "SNS subscription %s: %s -> %s, through %s", spec.logical_id, spec.topic_arn, spec.endpoint, name
        )
        return _Subscriber(spec, queue_url, arn)

    def drain(self) -> list[SourceInvocation]:
        invocations: list[SourceInvocation] = []
        for subscriber in self._subscribers:
            for body in receive_all(self._endpoint, subscriber.queue_url):
                event = sns_event(json.loads(body), subscriber.subscription_arn, self._stack.region)
                invocations.append(
                    SourceInvocation(
                        subscriber.spec.endpoint, json.dumps(event, ensure_ascii=False).encode(), "sns"
                    )
                )
        return invocations


def sns_event(envelope: dict[str, Any], subscription_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda receives from SNS, from the envelope SNS sends to a queue: the
    same fields, with Lambda's spelling of the two URLs, `Subject` null when there is
    none, and the attributes as {Type, Value}."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope["MessageId"],
                    "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject") or None,
                    "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"],
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", envelope.get("SigningCertUrl", "")),
                    "UnsubscribeUrl": (
                        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                    ),
                    "MessageAttributes": {
                        name: {"Type": value["Type"], "Value": value["Value"]}
                        for name, value in (envelope.get("MessageAttributes") or {}).items()
                    },
                },
            }
        ]
    }
