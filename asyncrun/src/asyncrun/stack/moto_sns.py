"""SNS's delivery to a subscribed queue, made independent of the publish, when moto runs
in this process.

moto delivers a topic's messages to its SQS subscribers inside `Publish`, and a
subscribed queue that no longer exists fails the publish itself (and every subscriber
after it). On AWS, `Publish` succeeds once the topic accepts the message; delivery to
each subscriber is SNS's own, retried under the delivery policy and then dropped (or sent
to the subscription's dead-letter queue). So a publisher - Lambda delivering an
invocation record among them - never sees a subscriber's failure.

Here the missing queue's delivery is dropped at once, with a warning naming the queue
(SNS's retries and a subscription dead-letter queue are not reproduced), and the other
subscribers still receive the message. Installed once per process."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.sns.models import Subscription
        from moto.sqs.exceptions import QueueDoesNotExist

        original_publish = Subscription.publish

        def publish_or_drop(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original_publish(self, *args, **kwargs)
            except QueueDoesNotExist:
                log.warning(
                    "SNS topic %s: its subscribed queue %s does not exist; the message is dropped for it "
                    "(SNS would retry the delivery, then drop it or send it to the subscription's "
                    "dead-letter queue, which is not reproduced here)",
                    self.topic.arn,
                    self.endpoint,
                )
                return None

        Subscription.publish = publish_or_drop  # type: ignore[method-assign]
        _installed = True
