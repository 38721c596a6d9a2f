"""Events that S3, SNS, EventBridge and schedules cause, taken into the engine's queue
one hop along the chain of whatever caused them."""

from __future__ import annotations

import json
import uuid

from asyncrun.errors import LambdaServiceError
from asyncrun.service.accepting import Accepting
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT
from asyncrun.service.queued import payload_bytes
from asyncrun.service.s3events import S3Bridge, S3Invocation
from asyncrun.service.sources import EventSources, SourceInvocation
from asyncrun.service.trace import Dropped, S3Notification
from asyncrun.stack.resolve import resolve_function

# Lambda follows a chain through SQS, SNS, S3 and Lambda only: an event that comes
# through EventBridge starts a chain of its own.
UNTRACKED_SOURCES = frozenset({"eventbridge", "schedule", "scheduler"})


class Notifying(Accepting):
    """Accepting what the event sources were told (the state is set by `Engine`)."""

    sources: EventSources
    s3: S3Bridge

    def _drain_notifications(self, *, hops: int, chain_id: str | None, caused_by: str | None = None) -> None:
        """What S3, SNS and EventBridge were told since the last drain, as asynchronous
        invocations `hops` along the chain of whatever caused it."""
        self._accept_notifications(
            self.sources.drain(),
            self.s3.drain() if self.s3.active else [],
            hops=hops,
            chain_id=chain_id,
            caused_by=caused_by,
        )

    def _accept_notifications(
        self,
        source_invocations: list[SourceInvocation],
        s3_invocations: list[S3Invocation],
        *,
        hops: int,
        chain_id: str | None,
        caused_by: str | None = None,
    ) -> None:
        for source_invocation in source_invocations:
            if source_invocation.source in UNTRACKED_SOURCES:
                self._accept_from_source(source_invocation, hops=0, chain_id=None)
            else:
                self._accept_from_source(source_invocation, hops=hops, chain_id=chain_id, caused_by=caused_by)
        for invocation in s3_invocations:
            target = invocation.target
            now = self.clock.now()
            try:
                resolved = resolve_function(self.stack, target.function.name, target.qualifier)
            except LambdaServiceError as exc:
                self._emit(
                    Dropped(
                        at=now,
                        request_id="",
                        function=target.function.name,
                        reason=f"S3 notification {target.configuration_id}: {exc}",
                    )
                )
                continue
            body = json.dumps(invocation.event, ensure_ascii=False).encode()
            request_id = str(uuid.uuid4())
            self._emit(
                S3Notification(
                    at=now,
                    request_id=request_id,
                    function=resolved.spec.name,
                    bucket=target.bucket,
                    key=invocation.key,
                    configuration_id=target.configuration_id,
                )
            )
            self._accept(
                resolved,
                body,
                request_id=request_id,
                hops=hops,
                chain_id=chain_id,
                source="s3",
                caused_by=caused_by,
            )

    def _accept_from_source(
        self, invocation: SourceInvocation, *, hops: int, chain_id: str | None, caused_by: str | None = None
    ) -> None:
        try:
            target = resolve_function(self.stack, invocation.function)
            body = payload_bytes(invocation.payload, EVENT_PAYLOAD_LIMIT)
        except LambdaServiceError as exc:
            self._emit(
                Dropped(
                    at=self.clock.now(),
                    request_id="",
                    function=invocation.function,
                    reason=f"{invocation.source} event not delivered: {exc}",
                )
            )
            return
        self._accept(
            target, body, hops=hops, chain_id=chain_id, source=invocation.source, caused_by=caused_by
        )

    def _fire_next_schedule(self) -> None:
        at, invocations = self.sources.schedules.fire_next()
        if at > self.clock.now():
            self.clock.advance_to(at)
        for invocation in invocations:
            self._accept_from_source(invocation, hops=0, chain_id=None)
