"""Lambda's asynchronous invocation, run locally (docs/async-semantics.md): an internal
queue ordered by due time, attempts with retries and backoff, maximum event age,
the invocation record, destinations, dead-letter queues, metrics, recursion
detection and S3 notifications.

Timing choices (the service says "about"): a retry after a function error is due
60 s (first) and 120 s (second) after the *end* of the failed attempt; a throttled
attempt is retried after 1 s, 2 s, 4 s ... capped at 5 min. The maximum event age is
decided ahead: when the next attempt would be due at or past the age limit (counted
from queueing), the event ends at once with `EventAgeExceeded`. With the virtual
clock, waits cost no wall time.

Concurrency (service/concurrency.py): an attempt holds a slot of its function's
concurrency from its start until its end. An attempt's code runs when the attempt
starts; its end (on the virtual clock: start + the measured duration of the run,
rounded up to 100 ms, see concurrency.py) is queued as a unit of work
of its own, so on the virtual clock other attempts start in between and overlap it in
virtual time, and an event that finds every slot taken is throttled. What the code did
(its invokes, the notifications of its writes) is taken when the code has run and
accepted at the attempt's end. The order of the run depends only on the clock, so the
same inputs and `--seed` give the same sequence of trace events, unless an attempt's
duration varies across a 100 ms step from one run to the next.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from asyncrun.errors import (
    InvalidRequestContentError,
    LambdaServiceError,
    TooManyRequestsError,
)
from asyncrun.service.clock import Clock, VirtualClock
from asyncrun.service.concurrency import DEFAULT_ACCOUNT_CONCURRENCY, Concurrency, Slot, virtual_duration
from asyncrun.service.destinations import Delivery, DestinationSender
from asyncrun.service.executor import AttemptResult, Executor
from asyncrun.service.faults import INJECTED_ERROR_TYPE, AnyFault, FaultInjector, FaultKind
from asyncrun.service.invokeconfig import InvokeConfigStore
from asyncrun.service.limits import (
    EVENT_PAYLOAD_LIMIT,
    REQUEST_RESPONSE_PAYLOAD_LIMIT,
    event_too_large,
    payload_too_large,
)
from asyncrun.service.metrics import (
    ASYNC_EVENTS_DROPPED,
    ASYNC_EVENTS_RECEIVED,
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    ERRORS,
    INVOCATIONS,
    RECURSIVE_INVOCATIONS_DROPPED,
    THROTTLES,
    Metrics,
)
from asyncrun.service.records import (
    RECURSION_CONDITION,
    UNHANDLED,
    Condition,
    build_record,
    function_error_payload,
    timeout_error_payload,
)
from asyncrun.service.s3events import S3Bridge, S3Invocation
from asyncrun.service.sources import EventSources, SourceInvocation
from asyncrun.service.trace import (
    Accepted,
    AttemptFinished,
    AttemptOutcome,
    AttemptStarted,
    DeliveryEvent,
    Dropped,
    EventFinished,
    RetryScheduled,
    S3Notification,
    TraceEvent,
)
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import FunctionSpec, InvokeConfig, Stack
from asyncrun.stack.resolve import ResolvedFunction, resolve_function

log = logging.getLogger(__name__)

RETRY_DELAYS = (60.0, 120.0)  # after the first and the second function error
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0
# Lambda stops a chain after about 16 invocations: events 0..15 of a chain run, the
# 17th is dropped (**unverified** exact boundary).
RECURSION_LIMIT = 16
# Lambda follows a chain through SQS, SNS, S3 and Lambda only: an event that comes
# through EventBridge starts a chain of its own.
UNTRACKED_SOURCES = frozenset({"eventbridge", "schedule", "scheduler"})

# **unverified**: the ErrorMessage a dead-letter queue gets when the function never ran.
_NOT_RUN_MESSAGES: dict[str, str] = {
    "ZeroReservedConcurrency": "The function's reserved concurrency is 0: the event was not run.",
    RECURSION_CONDITION: "Recursive invocation loop detected: the event was not run.",
    "EventAgeExceeded": "The event reached its maximum age before it could run.",
}

Listener = Callable[[TraceEvent], None]


@dataclass
class QueuedEvent:
    request_id: str
    function: FunctionSpec
    qualifier: str  # "$LATEST", a version or an alias: the config and record follow it
    version: str  # the version that runs
    explicit_qualifier: bool  # whether the caller named a qualifier (the context's invoked ARN shows it)
    payload: bytes
    queued_at: float
    hops: int = 0
    chain_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "invoke"
    caused_by: str | None = None  # the request that led to this one (trace.Accepted)
    # Attempts that ran the function: approximateInvokeCount. Throttled attempts never
    # reached the function and are not counted (**unverified**).
    attempts: int = 0
    function_errors: int = 0
    throttles: int = 0  # consecutive throttles, for the backoff
    last: AttemptResult | None = None

    @property
    def qualified_arn(self) -> str:
        """The record's `functionArn`: `:$LATEST` for an unqualified invoke; through an
        alias the alias name (**unverified**; the executed version is in the record's
        `executedVersion`)."""
        return f"{self.function.arn}:{self.qualifier}"

    @property
    def invoked_arn(self) -> str:
        return self.qualified_arn if self.explicit_qualifier else self.function.arn


@dataclass
class _Effects:
    """What an attempt's code did that the engine takes as new events: its own
    asynchronous invokes and the notifications of its writes."""

    invokes: list[tuple[Any, ...]] = field(default_factory=list)
    sources: list[SourceInvocation] = field(default_factory=list)
    s3: list[S3Invocation] = field(default_factory=list)


@dataclass
class _InFlight:
    """An attempt whose code has run and whose end is due at `slot.end`."""

    event: QueuedEvent
    result: AttemptResult
    slot: Slot
    effects: _Effects


@dataclass
class InvokeResult:
    """A synchronous (RequestResponse) invocation's answer."""

    request_id: str
    status_code: int
    payload: bytes
    executed_version: str
    function_error: str | None = None
    logs: str = ""  # the invocation's log (LogType=Tail)


@dataclass
class RunSummary:
    processed: int  # units of work done (attempts, throttles, events ended without running)
    started_at: float  # engine clock
    finished_at: float
    pending: int  # events still queued (max_events reached)


class Engine:
    def __init__(
        self,
        stack: Stack,
        endpoint: Endpoint,
        *,
        clock: Clock | None = None,
        faults: Sequence[AnyFault] = (),
        executor: Executor,
        listeners: Sequence[Listener] = (),
        seed: int | None = None,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
    ) -> None:
        self.stack = stack
        self.concurrency = Concurrency(stack, account_concurrency)
        self.endpoint = endpoint.start()
        self.clock: Clock = clock or VirtualClock()
        self.faults = FaultInjector(
            faults,
            seed,
            calls=self.endpoint.call_faults if self.endpoint.embedded else None,
            resolve=lambda ref: stack.find_function(ref)[0].name,
        )
        self.executor: Executor = executor
        self.listeners: list[Listener] = list(listeners)
        self.metrics = Metrics()
        self.trace: list[TraceEvent] = []
        self.deliveries: list[Delivery] = []
        self.invoke_configs = InvokeConfigStore(stack)
        for config in stack.invoke_configs:
            self.invoke_configs.put(config)
        self._queue: list[tuple[float, int, QueuedEvent]] = []
        self._in_flight: list[tuple[float, int, _InFlight]] = []
        self.taken = 0  # events taken from the queue so far
        self._overlap_warned = False
        self._sequence = itertools.count()
        self._cause: QueuedEvent | None = None  # the event whose record is being delivered
        self._sender = DestinationSender(self.endpoint, self._deliver_to_lambda)
        self.s3 = S3Bridge(stack, self.endpoint, now=self.clock.now)
        self.s3.install()
        self.sources = EventSources(stack, self.endpoint, start=self.clock.now())
        self.sources.install()
        # A function's own asynchronous lambda.invoke arrives on another thread (the
        # loopback endpoint's), while an attempt runs, and so does an Event invoke through
        # serve's Lambda API: it waits here until the engine, which is not thread-safe,
        # takes it into its queue.
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._running: QueuedEvent | None = None
        if self.endpoint.embedded:
            self.endpoint.route_function_invokes(self)

    # ------------------------------------------------------------------ accepting

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
        body = _payload_bytes(payload, EVENT_PAYLOAD_LIMIT)
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

    def invoke_async_from_function(
        self, function: str, payload: bytes, *, qualifier: str | None = None
    ) -> str:
        """`Invoke` with `InvocationType=Event` made by a function's code, from the
        loopback endpoint's thread: checked now (the caller gets the service's error),
        queued when the engine next looks, one hop after the event that was running."""
        target = resolve_function(self.stack, function, qualifier)
        body = _payload_bytes(payload, EVENT_PAYLOAD_LIMIT)
        request_id = str(uuid.uuid4())
        self._inbox.put((target, body, request_id, self._running, None))
        return request_id

    def receive_async(
        self, function: str, payload: bytes, *, qualifier: str | None = None, request_id: str | None = None
    ) -> str:
        """`Invoke` with `InvocationType=Event` from a thread other than the engine's (the
        Lambda API under `serve`): checked now, queued as received when the engine next
        looks, so the caller's 202 does not wait for an attempt that is running."""
        target = resolve_function(self.stack, function, qualifier)
        body = _payload_bytes(payload, EVENT_PAYLOAD_LIMIT)
        request_id = request_id or str(uuid.uuid4())
        self._inbox.put((target, body, request_id, None, self.clock.now()))
        return request_id

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

    # ------------------------------------------------------------------ synchronous

    def invoke_sync(
        self, function: str, payload: bytes | str | Mapping[str, Any] | None, *, qualifier: str | None = None
    ) -> InvokeResult:
        """`Invoke` with `InvocationType=RequestResponse`: run now, once; no retries,
        no destinations; 429 when the function's concurrency is all in use."""
        target = resolve_function(self.stack, function, qualifier)
        spec = target.spec
        body = _payload_bytes(payload, REQUEST_RESPONSE_PAYLOAD_LIMIT)
        self._complete_due()
        now = self.clock.now()
        slot = self.concurrency.acquire(spec, now, float("inf"))
        if not isinstance(slot, Slot):
            self.metrics.incr(spec.name, THROTTLES)
            raise TooManyRequestsError("Rate Exceeded.", reason=slot)
        event = QueuedEvent(
            str(uuid.uuid4()),
            spec,
            target.effective_qualifier,
            target.version,
            target.explicit,
            body,
            now,
            source="sync",
        )
        try:
            result = self._run_attempt(event, age_ms=0, slot=slot)
            # The caller waited for the answer: the clock moves by the run.
            self.clock.elapsed(result.duration_ms / 1000)
        finally:
            self.concurrency.release(slot)
        self._attempt_finished(event, result)
        self._drain_notifications(hops=1, chain_id=event.chain_id, caused_by=event.request_id)
        return InvokeResult(
            event.request_id,
            200,
            result.payload,
            target.version,
            None if result.ok else UNHANDLED,
            result.logs or "",
        )

    # ------------------------------------------------------------------ running

    def next_due(self) -> float | None:
        dues = [due for due in (self._next_work_due(), self.sources.schedules.next_due()) if due is not None]
        return min(dues) if dues else None

    def _next_work_due(self) -> float | None:
        """When the next attempt ends or the next queued event is due."""
        dues = [heap[0][0] for heap in (self._queue, self._in_flight) if heap]
        return min(dues) if dues else None

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        """Attempts started whose end is not yet processed."""
        return len(self._in_flight)

    def step(self) -> bool:
        """Do one unit of due work; False when nothing is due yet."""
        self._take_function_invokes()
        self._drain_notifications(hops=0, chain_id=None)
        while (scheduled := self.sources.schedules.next_due()) is not None and scheduled <= self.clock.now():
            self._fire_next_schedule()
        due = self._next_work_due()
        if due is None:
            return False
        if due > self.clock.now():
            # An attempt that ends before anything else is due ends now: its code has
            # run, and on the virtual clock only its end moves the clock that far.
            scheduled = self.sources.schedules.next_due()
            ending = self._in_flight[0][0] if self._in_flight else None
            if ending != due or (scheduled is not None and scheduled < due):
                return False
            self.clock.advance_to(due)
        self._do_next_unit()
        return True

    def run_until_idle(self, *, max_events: int | None = None) -> RunSummary:
        """Process everything queued and everything it causes, jumping the clock over
        waits, until the queue is empty (or `max_events` events were taken from it;
        attempts already running then still end). Schedules fire while other work
        remains; they do not keep the run going (see schedules.py)."""
        return self._run(None, max_events)

    def run_until(self, deadline: float, *, max_events: int | None = None) -> RunSummary:
        """Like `run_until_idle`, but on until the clock reads `deadline`, firing every
        schedule that falls due before it."""
        return self._run(deadline, max_events)

    def _run(self, deadline: float | None, max_events: int | None) -> RunSummary:
        started = self.clock.now()
        processed = 0
        self._take_function_invokes()
        self._drain_notifications(hops=0, chain_id=None)
        while max_events is None or processed < max_events:
            due = self._next_work_due()
            horizon = deadline if deadline is not None else due
            scheduled = self.sources.schedules.next_due()
            if (
                scheduled is not None
                and horizon is not None
                and scheduled <= horizon
                and (due is None or scheduled <= due)
            ):
                self._fire_next_schedule()
                continue
            if due is None or (deadline is not None and due > deadline):
                break
            if due > self.clock.now():
                self.clock.advance_to(due)
            processed += self._do_next_unit()
        finished = max_events is None or processed < max_events
        # Attempts whose code has run end too (past a deadline, or after the last event taken).
        while self._in_flight:
            self.clock.advance_to(self._in_flight[0][0])
            self._do_next_unit()
        if deadline is not None and finished and self.clock.now() < deadline:
            self.clock.advance_to(deadline)
        return RunSummary(processed, started, self.clock.now(), len(self._queue))

    def _do_next_unit(self) -> int:
        """End the earliest attempt or take the earliest event, whichever is due first
        (an attempt ending at the instant another starts frees its slot first): 1 when
        an event was taken from the queue."""
        if self._in_flight and (not self._queue or self._in_flight[0][0] <= self._queue[0][0]):
            _, _, in_flight = heapq.heappop(self._in_flight)
            self._end_attempt(in_flight)
            return 0
        _, _, event = heapq.heappop(self._queue)
        self.taken += 1
        self._process(event)
        return 1

    def _complete_due(self) -> None:
        """End every attempt whose end is due (before a synchronous invoke counts slots)."""
        while self._in_flight and self._in_flight[0][0] <= self.clock.now():
            _, _, in_flight = heapq.heappop(self._in_flight)
            self._end_attempt(in_flight)

    def _process(self, event: QueuedEvent) -> None:
        try:
            self._process_event(event)
        finally:
            self._take_function_invokes()
            # Whatever the deliveries wrote to notifying buckets is one hop on.
            self._drain_notifications(
                hops=event.hops + 1, chain_id=event.chain_id, caused_by=event.request_id
            )

    def _process_event(self, event: QueuedEvent) -> None:
        spec = event.function
        now = self.clock.now()
        config = self.invoke_configs.for_event(spec, event.qualifier)
        if now - event.queued_at > config.maximum_event_age_seconds:
            self._finish(event, "EventAgeExceeded", config)
            return
        if spec.reserved_concurrency == 0:
            self._finish(event, "ZeroReservedConcurrency", config, ran=False)
            return
        if event.hops >= RECURSION_LIMIT and spec.recursive_loop == "Terminate":
            self.metrics.incr(spec.name, RECURSIVE_INVOCATIONS_DROPPED)
            self._emit(
                Dropped(
                    at=now,
                    request_id=event.request_id,
                    function=spec.name,
                    reason=f"recursive loop: {event.hops} invocations in this chain",
                )
            )
            self._finish(event, RECURSION_CONDITION, config, ran=False)
            return
        age_ms = round((now - event.queued_at) * 1000)
        payload_text = event.payload.decode("utf-8", errors="replace")
        if self.faults.trigger("throttle", logical_id=spec.logical_id, name=spec.name, payload=payload_text):
            self._throttle(event, age_ms, "Rate Exceeded.", config)
            return
        slot = self.concurrency.acquire(spec, now, float("inf"))
        if not isinstance(slot, Slot):
            self._throttle(event, age_ms, f"Rate Exceeded. ({slot})", config)
            return
        event.throttles = 0
        self._warn_if_overlapping(spec, now)
        result = self._run_attempt(event, age_ms, slot=slot)
        # The end waits on the clock; what the code did is taken now, while it is its own.
        effects = _Effects(
            self._collect_function_invokes(), self.sources.drain(), self.s3.drain() if self.s3.active else []
        )
        if isinstance(self.clock, VirtualClock):
            end = now + virtual_duration(result.duration_ms)
        else:
            end = self.clock.now()  # the code has just run, in real time
        slot = self.concurrency.extend(slot, end)
        heapq.heappush(self._in_flight, (end, next(self._sequence), _InFlight(event, result, slot, effects)))

    def _warn_if_overlapping(self, spec: FunctionSpec, now: float) -> None:
        """Once a run: overlapping attempts share an environment here (the README's gap)."""
        if (
            isinstance(self.clock, VirtualClock)
            and not self._overlap_warned
            and self.concurrency.running(spec.name, now) > 1
        ):
            self._overlap_warned = True
            log.warning(
                "attempts overlap on the virtual clock (first of %s) but run one after another in "
                "one execution environment of their function; Lambda starts one, with its init, for each",
                spec.name,
            )

    def _throttle(self, event: QueuedEvent, age_ms: int, message: str, config: InvokeConfig) -> None:
        """A throttled attempt never reaches the function: no AsyncEventAge sample, no
        retry used, and the next try after the backoff."""
        spec = event.function
        now = self.clock.now()
        self.metrics.incr(spec.name, THROTTLES)
        attempt = event.attempts + 1
        self._emit(
            AttemptStarted(
                at=now, request_id=event.request_id, function=spec.name, attempt=attempt, age_ms=age_ms
            )
        )
        self._emit(
            AttemptFinished(
                at=now,
                request_id=event.request_id,
                function=spec.name,
                attempt=attempt,
                outcome="throttled",
                duration_ms=0.0,
                error_type="TooManyRequestsException",
                error_message=message,
            )
        )
        event.throttles += 1
        delay = min(THROTTLE_FIRST_DELAY * 2 ** (event.throttles - 1), THROTTLE_MAX_DELAY)
        self._reschedule(event, delay, "throttle", config)

    def _end_attempt(self, in_flight: _InFlight) -> None:
        event, result = in_flight.event, in_flight.result
        self.concurrency.release(in_flight.slot)
        try:
            self._attempt_finished(event, result)
            event.last = result
            config = self.invoke_configs.for_event(event.function, event.qualifier)
            if result.ok:
                self._finish(event, "Success", config)
                return
            event.function_errors += 1
            if event.function_errors > config.maximum_retry_attempts:
                self._finish(event, "RetriesExhausted", config)
                return
            delay = RETRY_DELAYS[min(event.function_errors, len(RETRY_DELAYS)) - 1]
            self._reschedule(event, delay, "function_error", config)
        finally:
            # What the attempt and the deliveries did is one hop on.
            effects = in_flight.effects
            self._accept_function_invokes(effects.invokes + self._collect_function_invokes())
            self._accept_notifications(
                effects.sources + self.sources.drain(),
                effects.s3 + (self.s3.drain() if self.s3.active else []),
                hops=event.hops + 1,
                chain_id=event.chain_id,
                caused_by=event.request_id,
            )

    def _run_attempt(self, event: QueuedEvent, age_ms: int, *, slot: Slot) -> AttemptResult:
        """Start an attempt in `slot` and run its code; the clock does not move."""
        spec = event.function
        event.attempts += 1
        started = self.clock.now()
        self.metrics.record_age(spec.name, age_ms)
        self.metrics.incr(spec.name, INVOCATIONS)
        self.metrics.record_concurrency(spec.name, self.concurrency.running(spec.name, started))
        self._emit(
            AttemptStarted(
                at=started,
                request_id=event.request_id,
                function=spec.name,
                attempt=event.attempts,
                age_ms=age_ms,
            )
        )
        return self._injected_failure(event) or self._run_handler(event)

    def _attempt_finished(self, event: QueuedEvent, result: AttemptResult) -> None:
        spec = event.function
        outcome: AttemptOutcome = "success" if result.ok else ("timeout" if result.timed_out else "error")
        if not result.ok:
            self.metrics.incr(spec.name, ERRORS)
        self._emit(
            AttemptFinished(
                at=self.clock.now(),
                request_id=event.request_id,
                function=spec.name,
                attempt=event.attempts,
                outcome=outcome,
                duration_ms=result.duration_ms,
                error_type=result.error_type,
                error_message=result.error_message,
                logs=result.logs,
            )
        )

    def _run_handler(self, event: QueuedEvent) -> AttemptResult:
        spec = event.function
        self._running = event
        try:
            result = self.executor.run(
                spec,
                version=event.version,
                invoked_arn=event.invoked_arn,
                payload=event.payload,
                request_id=event.request_id,
                timeout=float(spec.timeout),
            )
        finally:
            self._running = None
        return result

    def _injected_failure(self, event: QueuedEvent) -> AttemptResult | None:
        """The attempt's result when an `error`, `timeout` or `crash` fault triggers (the
        handler is not run), else None."""
        spec = event.function
        payload_text = event.payload.decode("utf-8", errors="replace")
        failing: tuple[FaultKind, ...] = ("error", "timeout", "crash")
        for kind in failing:
            if self.faults.trigger(kind, logical_id=spec.logical_id, name=spec.name, payload=payload_text):
                break
        else:
            return None
        note = f"asyncrun: {kind} fault injected in attempt {event.attempts} of {spec.logical_id}\n"
        if kind == "error":
            error = function_error_payload(
                message=f"Fault injected by asyncrun: attempt {event.attempts} of {spec.logical_id} fails",
                error_type=INJECTED_ERROR_TYPE,
                request_id=event.request_id,
                stack_trace=[],
            )
            return AttemptResult(False, json.dumps(error).encode(), error, 0.0, logs=note)
        # Lambda discards an environment whose invocation timed out or whose runtime exited.
        getattr(self.executor, "reset", lambda _spec: None)(spec)
        if kind == "timeout":
            # Its Timeout of the run's time passes, like a real one: the attempt's end is
            # queued that long after its start (see `_run_attempt`'s callers).
            error = timeout_error_payload(event.request_id, float(spec.timeout))
            return AttemptResult(
                False, json.dumps(error).encode(), error, spec.timeout * 1000.0, logs=note, timed_out=True
            )
        error = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {event.request_id} Error: Runtime exited with error: exit status 1",
        }
        return AttemptResult(False, json.dumps(error).encode(), error, 0.0, logs=note)

    def _reschedule(
        self,
        event: QueuedEvent,
        delay: float,
        reason: Literal["function_error", "throttle"],
        config: InvokeConfig,
    ) -> None:
        due = self.clock.now() + delay
        if due - event.queued_at >= config.maximum_event_age_seconds:
            self._finish(event, "EventAgeExceeded", config)
            return
        self._emit(
            RetryScheduled(
                at=self.clock.now(),
                request_id=event.request_id,
                function=event.function.name,
                delay=delay,
                reason=reason,
                due=due,
            )
        )
        self._push(due, event)

    # ------------------------------------------------------------------ finishing

    def _finish(
        self, event: QueuedEvent, condition: Condition, config: InvokeConfig, *, ran: bool = True
    ) -> None:
        spec = event.function
        now = self.clock.now()
        self._emit(
            EventFinished(
                at=now,
                request_id=event.request_id,
                function=spec.name,
                condition=condition,
                approximate_invoke_count=event.attempts,
            )
        )
        success = condition == "Success"
        if not success:
            self.metrics.incr(spec.name, ASYNC_EVENTS_DROPPED)
        last = event.last if ran else None
        record = build_record(
            timestamp=now,
            request_id=event.request_id,
            function_arn=event.qualified_arn,
            condition=condition,
            approximate_invoke_count=event.attempts,
            request_payload=event.payload,
            executed_version=event.version if last is not None else None,
            response_payload=last.payload if last is not None else None,
            function_error=UNHANDLED if last is not None and not last.ok else None,
        )
        self._cause = event
        try:
            target = config.on_success if success else config.on_failure
            if target:
                self._record_delivery(
                    self._sender.send_record(
                        kind="on_success" if success else "on_failure",
                        target_arn=target,
                        record=record,
                        function_name=spec.name,
                        function_arn=event.qualified_arn,
                        request_id=event.request_id,
                        at=now,
                    )
                )
            if not success and spec.dead_letter_target_arn:
                message = (last.error_message if last is not None else None) or _NOT_RUN_MESSAGES.get(
                    condition, ""
                )
                self._record_delivery(
                    self._sender.send_dead_letter(
                        target_arn=spec.dead_letter_target_arn,
                        payload=event.payload,
                        request_id=event.request_id,
                        error_message=message,
                        function_name=spec.name,
                        at=now,
                    )
                )
        finally:
            self._cause = None

    def _record_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if not delivery.ok:
            metric = DEAD_LETTER_ERRORS if delivery.kind == "dead_letter" else DESTINATION_DELIVERY_FAILURES
            self.metrics.incr(delivery.function, metric)
        self._emit(
            DeliveryEvent(
                at=delivery.at,
                request_id=delivery.request_id,
                function=delivery.function,
                delivery=delivery.kind,
                destination_type=delivery.destination_type,
                target_arn=delivery.target_arn,
                ok=delivery.ok,
                error=delivery.error,
                body=delivery.body,
            )
        )

    def _deliver_to_lambda(self, target_arn: str, body: bytes) -> None:
        """A Lambda destination: the record becomes the target's asynchronous event,
        one hop further along the chain (invoked asynchronously: **unverified**)."""
        cause = self._cause
        target = resolve_function(self.stack, target_arn)
        if len(body) > EVENT_PAYLOAD_LIMIT:
            raise event_too_large(len(body))
        self._accept(
            target,
            body,
            hops=(cause.hops + 1) if cause else 1,
            chain_id=cause.chain_id if cause else None,
            source="destination",
            caused_by=cause.request_id if cause else None,
        )

    # ------------------------------------------------------------------ S3

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
            body = _payload_bytes(invocation.payload, EVENT_PAYLOAD_LIMIT)
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

    # ------------------------------------------------------------------ config and listeners

    def put_invoke_config(self, config: InvokeConfig) -> InvokeConfig:
        """Validate and store (replacing) a function's, version's or alias's config."""
        return self.invoke_configs.put(config)

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def _emit(self, event: TraceEvent) -> None:
        self.trace.append(event)
        for listener in self.listeners:
            listener(event)


def _payload_bytes(payload: bytes | str | Mapping[str, Any] | None, limit: int) -> bytes:
    """The request body as Lambda takes it: size-checked, JSON, empty meaning `{}`."""
    if payload is None:
        body = b""
    elif isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = json.dumps(payload, ensure_ascii=False).encode()
    if len(body) > limit:
        raise payload_too_large(len(body), limit)
    if not body:
        return b"{}"
    try:
        json.loads(body)
    except ValueError as exc:
        # **unverified** wording after the prefix: the service names its parser's error.
        raise InvalidRequestContentError(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return body
