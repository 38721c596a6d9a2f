"""The runner's own queues read straight from moto's SQS backend, when moto runs in
this process (the embedded endpoint).

The runner reads its queues (the S3 bridge's, SNS's and EventBridge's) after every
attempt, takes every message and deletes it at once. Through the API that costs a
`ReceiveMessage` call even when the queue is empty (about 2 ms, three times an
attempt); and moto walks every message of a queue in each `ReceiveMessage`, each
`DeleteMessage` and each `SendMessage` (which works out the queue's attributes, their
message counts among them), so a queue that fills before the runner reads it, as when
1,000 objects are uploaded before the engine runs, costs O(n²): 35 ms a notification
at a depth of 1,000.

So once the runner reads one of its queues, a message sent to it is set aside for the
runner as it arrives, and the queue itself stays empty: sending costs the same at any
depth, and reading is taking what was set aside, with no call. Only messages a
`ReceiveMessage` would return are taken: one still delayed, or one another reader
holds (not yet visible again), stays in the queue. The runner's queues are its own;
the API sees them empty. An endpoint elsewhere is read through the API."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any
from urllib.parse import urlsplit

_INBOX = "_asyncrun_inbox"  # the attribute a runner's queue carries its set-aside messages in
_installed = False
_install_lock = threading.Lock()


def take_all(queue_url: str, region: str) -> list[str] | None:
    """The bodies of every message now receivable from the queue, in the order they
    arrived, removed from it; None when this process's moto does not hold the queue.
    From the first call on, what arrives is set aside for the next one."""
    from moto.sqs.models import sqs_backends

    parts = urlsplit(queue_url).path.strip("/").split("/")
    if len(parts) != 2:
        return None
    account_id, name = parts
    try:
        queue = sqs_backends[account_id][region].queues[name]
    except KeyError:
        return None
    inbox: deque[str] | None = getattr(queue, _INBOX, None)
    if inbox is None:
        _install()
        inbox = deque()
        setattr(queue, _INBOX, inbox)  # on the queue object: gone with it when moto resets
    bodies: list[str] = []
    if queue._messages:  # sent before the runner first read the queue, delayed, or held by another reader
        with queue._messages_lock:  # moto's own, held while a send appends
            taken: list[Any] = []
            kept: list[Any] = []
            for message in queue._messages:
                (taken if message.visible and not message.delayed else kept).append(message)
            queue._messages = kept
        bodies = [message.body for message in taken]
    while inbox:
        bodies.append(inbox.popleft())
    return bodies


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.sqs.models import Queue

        original_add = Queue.add_message

        def add_message(self: Any, message: Any) -> None:
            inbox: deque[str] | None = getattr(self, _INBOX, None)
            if inbox is None or self.fifo_queue or message.delayed or self.lambda_event_source_mappings:
                original_add(self, message)
                return
            inbox.append(message.body)

        Queue.add_message = add_message  # type: ignore[method-assign]
        _installed = True
