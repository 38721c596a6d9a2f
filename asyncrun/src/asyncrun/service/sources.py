"""The asynchronous sources besides S3 that invoke the stack's functions: SNS
subscriptions, EventBridge rules and schedules (`sns_sources`, `eventbridge`,
`schedules`). Each turns what happened at the endpoint, or on the clock, into
asynchronous invocations the engine queues like any `Event` invoke."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncrun.stack import moto_sqs

if TYPE_CHECKING:
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.model import Stack


@dataclass(frozen=True)
class SourceInvocation:
    """One asynchronous invocation a source asks for."""

    function: str  # the target as the source names it: a (qualified) ARN or name
    payload: bytes
    source: str  # "sns", "eventbridge", "schedule", "scheduler"


def is_stack_function(stack: Stack, arn: str) -> bool:
    """Whether a source's target is a Lambda function of the stack (else it is warned
    about and left out)."""
    if not arn.startswith("arn:") or arn.split(":")[2:3] != ["lambda"] or arn.count(":") < 6:
        return False
    try:
        stack.find_function(arn)
    except KeyError:
        return False
    return True


def internal_queue_name(stack: Stack, kind: str, key: str) -> str:
    """A queue of the runner's own at the endpoint, stable for one stack and purpose,
    so a later run against the same endpoint finds it again."""
    digest = hashlib.sha256(f"{stack.name}|{stack.region}|{stack.account_id}|{key}".encode()).hexdigest()[:16]
    return f"asyncrun-{kind}-{digest}"


def receive_all(endpoint: Endpoint, queue_url: str) -> list[str]:
    """Every message body now in one of the runner's queues, deleted as read."""
    if endpoint.embedded and (taken := moto_sqs.take_all(queue_url, endpoint.region)) is not None:
        return taken
    sqs = endpoint.client("sqs")
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return bodies
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        bodies.extend(message["Body"] for message in messages)


class EventSources:
    """SNS subscriptions, EventBridge rules and schedules, together: what the engine
    drains after every unit of work, and the schedules it fires on its clock."""

    def __init__(self, stack: Stack, endpoint: Endpoint, *, start: float) -> None:
        # Imported here: each source module uses this module's helpers.
        from asyncrun.service.eventbridge import EventBridgeBridge
        from asyncrun.service.schedules import Schedules
        from asyncrun.service.sns_sources import SnsBridge

        self.sns = SnsBridge(stack, endpoint)
        self.rules = EventBridgeBridge(stack, endpoint)
        self.schedules = Schedules(stack, start)

    def install(self) -> None:
        self.sns.install()
        self.rules.install()

    def drain(self) -> list[SourceInvocation]:
        invocations: list[SourceInvocation] = []
        if self.sns.active:
            invocations += self.sns.drain()
        if self.rules.active:
            invocations += self.rules.drain()
        return invocations
