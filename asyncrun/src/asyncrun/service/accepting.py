"""Taking events into the engine's queue: `Invoke` with `InvocationType=Event` from a
caller, and from a function's code or another thread (through the inbox), and the
trace they make."""

from __future__ import annotations

import heapq
import queue
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from asyncrun.service.clock import Clock
from asyncrun.service.faults import FaultInjector
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT
from asyncrun.service.metrics import ASYNC_EVENTS_RECEIVED, Metrics
from asyncrun.service.queued import QueuedEvent, payload_bytes
from asyncrun.service.trace import Accepted, TraceEvent
from asyncrun.stack.model import Stack
from asyncrun.stack.resolve import ResolvedFunction, resolve_function

Listener = Callable[[TraceEvent], None]


class Accepting:
    """The engine's queue and how events enter it (the state is set by `Engine`)."""

    stack: Stack
    clock: Clock
    metrics: Metrics
    faults: FaultInjector
    listeners: list[Listener]
    trace: list[TraceEvent]
    _queue: list[tuple[float, int, QueuedEvent]]
    _sequence: Iterator[int]
    _inbox: queue.SimpleQueue[tuple[Any, ...]]

    def invoke_async(
        self,
        function: str,
        payload: bytes | str | Mapping[str, Any] | None,
        *,
        qualifier: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """`Invoke` with `InvocationType=Event`: queue the event, return its request id."""
        target = resolve_function(self.stack, function, qualifier)
        body = payload_bytes(payload, EVENT_PAYLOAD_LIMIT)
        event = self._accept(target, body, request_id=request_id, source="invoke")
        return event.request_id

    def _accept(
        self,
        target: ResolvedFunction,
        body: bytes,
        *,
        request_id: str | None = None,
        hops: int = 0,
        chain_id: str | None = None,
        source: str,
        caused_by: str | None = None,
        queued_at: float | None = None,
    ) -> QueuedEvent:
        now = self.clock.now() if queued_at is None else queued_at
        spec = target.spec
        event = QueuedEvent(
            request_id=request_id or str(uuid.uuid4()),
            function=spec,
            qualifier=target.effective_qualifier,
            version=target.version,
            explicit_qualifier=target.explicit,
            payload=body,
            queued_at=now,
            hops=hops,
            chain_id=chain_id or str(uuid.uuid4()),
            source=source,
            caused_by=caused_by,
        )
        self.metrics.incr(spec.name, ASYNC_EVENTS_RECEIVED)
        self._enqueue(event)
        payload_text = body.decode("utf-8", errors="replace")
        if self.faults.trigger("duplicate", logical_id=spec.logical_id, name=spec.name, payload=payload_text):
            self._enqueue(QueuedEvent(**{**event.__dict__, "source": "duplicate"}))
        return event

    def _enqueue(self, event: QueuedEvent) -> None:
        self._emit(
            Accepted(
                at=event.queued_at,
                request_id=event.request_id,
                function=event.function.name,
                qualifier=event.qualifier,
                payload_bytes=len(event.payload),
                source=event.source,
                hops=event.hops,
                caused_by=event.caused_by,
            )
        )
        self._push(event.queued_at, event)

    def _push(self, due: float, event: QueuedEvent) -> None:
        heapq.heappush(self._queue, (due, next(self._sequence), event))

    def _take_function_invokes(self) -> None:
        self._accept_function_invokes(self._collect_function_invokes())

    def _collect_function_invokes(self) -> list[tuple[Any, ...]]:
        taken: list[tuple[Any, ...]] = []
        while True:
            try:
                taken.append(self._inbox.get_nowait())
            except queue.Empty:
                return taken

    def _accept_function_invokes(self, invokes: list[tuple[Any, ...]]) -> None:
        for target, body, request_id, cause, received_at in invokes:
            self._accept(
                target,
                body,
                request_id=request_id,
                queued_at=received_at,
                hops=cause.hops + 1 if cause is not None else 0,
                chain_id=cause.chain_id if cause is not None else None,
                source="invoke",
                caused_by=cause.request_id if cause is not None else None,
            )

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def _emit(self, event: TraceEvent) -> None:
        self.trace.append(event)
        for listener in self.listeners:
            listener(event)
