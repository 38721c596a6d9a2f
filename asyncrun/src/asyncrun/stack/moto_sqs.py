"""The runner's own queues read straight from moto's SQS backend, when moto runs in
this process (the embedded endpoint).

The runner reads its queues (the S3 bridge's, SNS's and EventBridge's) after every
attempt, takes every message and deletes it at once. Through the API that costs a
`ReceiveMessage` call even when the queue is empty (about 2 ms, three times an
attempt), and moto's `ReceiveMessage` and `DeleteMessage` each walk every message in
the queue: reading n messages ten at a time is O(n²), so a run that writes 1,000
objects before the engine starts spent seconds reading their notifications. Taking
the messages out of the backend's list gives the same result, in one pass.

Only messages a `ReceiveMessage` would return are taken: a message another reader
holds (not yet visible again) or one still delayed stays. An endpoint elsewhere is
read through the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def take_all(queue_url: str, region: str) -> list[str] | None:
    """The bodies of every message now receivable from the queue, in the order they
    arrived, removed from it; None when this process's moto does not hold the queue."""
    from moto.sqs.models import sqs_backends

    parts = urlsplit(queue_url).path.strip("/").split("/")
    if len(parts) != 2:
        return None
    account_id, name = parts
    try:
        queue = sqs_backends[account_id][region].queues[name]
    except KeyError:
        return None
    if not queue._messages:  # the usual case after an attempt: nothing to take, nothing to lock
        return []
    with queue._messages_lock:  # moto's own, held while a send appends
        taken: list[Any] = []
        kept: list[Any] = []
        for message in queue._messages:
            (taken if message.visible and not message.delayed else kept).append(message)
        queue._messages = kept
    return [message.body for message in taken]
