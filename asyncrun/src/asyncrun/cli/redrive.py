"""Redrive: take the invocation records a failure queue collected and invoke each
function again, asynchronously, with the event it failed on. A message is deleted only
once its new invocation is accepted; what cannot be redriven stays in the queue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncrun.errors import LambdaServiceError, RedriveError
from asyncrun.stack.model import QueueSpec, Stack

if TYPE_CHECKING:
    from asyncrun.service.engine import Engine

# How long received messages stay hidden while a redrive decides about them (wall
# seconds); anything not deleted is made visible again at the end.
HOLD_SECONDS = 300


@dataclass
class Redriven:
    message_id: str
    function_arn: str  # as the record names it, qualifier included
    original_request_id: str
    condition: str
    request_id: str | None = None  # the new event's; None in a dry run


@dataclass
class LeftInPlace:
    message_id: str
    reason: str
    body: str


@dataclass
class RedriveReport:
    queue: str
    dry_run: bool
    redriven: list[Redriven] = field(default_factory=list)
    left: list[LeftInPlace] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "dry_run": self.dry_run,
            "redriven": [item.__dict__ for item in self.redriven],
            "left": [{"message_id": item.message_id, "reason": item.reason} for item in self.left],
        }


def failure_queues(stack: Stack) -> list[QueueSpec]:
    """Queues that receive failures: an OnFailure or dead-letter target itself, or
    subscribed to a topic that is one."""
    targets = {config.on_failure for config in stack.invoke_configs if config.on_failure}
    targets |= {
        spec.dead_letter_target_arn for spec in stack.functions.values() if spec.dead_letter_target_arn
    }
    fed_by_topics = {
        subscription.endpoint
        for subscription in stack.subscriptions
        if subscription.protocol == "sqs" and subscription.topic_arn in targets
    }
    return [queue for queue in stack.queues.values() if queue.arn in targets or queue.arn in fed_by_topics]


def choose_queue(stack: Stack, reference: str | None) -> QueueSpec:
    if reference:
        try:
            return stack.find_queue(reference)
        except KeyError:
            names = ", ".join(stack.queues) or "none"
            raise RedriveError(f"no queue {reference!r} in stack {stack.name} (queues: {names})") from None
    candidates = failure_queues(stack)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise RedriveError(f"stack {stack.name} has no queue that receives failures; name one with --queue")
    names = ", ".join(queue.logical_id for queue in candidates)
    raise RedriveError(f"several queues receive failures ({names}); choose one with --queue")


def invocation_record(body: str) -> tuple[dict[str, Any] | None, str]:
    """The record a message carries, or None and why it is not one."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, "not JSON"
    if not isinstance(document, dict):
        return None, "not an invocation record"
    context = document.get("requestContext")
    if not isinstance(context, dict) or not isinstance(context.get("functionArn"), str):
        return None, "not an invocation record (no requestContext.functionArn)"
    if "requestPayload" not in document:
        return None, "the record has no requestPayload (dropped from a record too large for SNS)"
    return document, ""


def redrive(
    engine: Engine, queue: QueueSpec, limit: int | None = None, dry_run: bool = False
) -> RedriveReport:
    """Re-invokes the function of every invocation record in `queue` (at most `limit`)
    with its original request payload, keeping the qualifier the record names."""
    sqs = engine.endpoint.client("sqs")
    report = RedriveReport(queue=queue.logical_id, dry_run=dry_run)
    held: list[dict[str, Any]] = []
    records = 0
    while limit is None or records < limit:
        messages = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=HOLD_SECONDS, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        held.extend(messages)
        records += sum(1 for message in messages if invocation_record(message["Body"])[0] is not None)
    release: list[dict[str, Any]] = []
    for message in held:
        record, reason = invocation_record(message["Body"])
        if record is None:
            report.left.append(LeftInPlace(message["MessageId"], reason, message["Body"]))
            release.append(message)
            continue
        if limit is not None and len(report.redriven) >= limit:
            release.append(message)
            continue
        context = record["requestContext"]
        item = Redriven(
            message_id=message["MessageId"],
            function_arn=context["functionArn"],
            original_request_id=str(context.get("requestId", "")),
            condition=str(context.get("condition", "")),
        )
        if dry_run:
            report.redriven.append(item)
            release.append(message)
            continue
        try:
            payload = json.dumps(record["requestPayload"], ensure_ascii=False)
            item.request_id = engine.invoke_async(context["functionArn"], payload)
        except LambdaServiceError as error:
            report.left.append(
                LeftInPlace(message["MessageId"], f"{error.code}: {error.message}", message["Body"])
            )
            release.append(message)
            continue
        sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
        report.redriven.append(item)
    for message in release:
        sqs.change_message_visibility(
            QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return report


def peek(engine_endpoint: Any, queue: QueueSpec, limit: int = 50) -> list[str]:
    """The bodies of up to `limit` messages, left in the queue as they were."""
    sqs = engine_endpoint.client("sqs")
    held: list[dict[str, Any]] = []
    while len(held) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=min(10, limit - len(held)), VisibilityTimeout=HOLD_SECONDS
        ).get("Messages", [])
        if not messages:
            break
        held.extend(messages)
    for message in held:
        sqs.change_message_visibility(
            QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [message["Body"] for message in held]
