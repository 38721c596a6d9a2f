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

Threads: on the virtual clock the engine waits while an attempt's code runs (on a
thread of its own, with the engine's lock let go, so the code's own calls reach the
engine), which keeps a run reproducible; on a real clock (`--realtime`, `serve`) it
starts the code and goes on, and attempts of different events run at the same time,
as many as concurrency allows; each one's end is taken when its code has run.

The engine is built from parts, each in its own module: accepting events into the queue
(accepting.py), what the event sources were told (notifications.py), running an attempt
(attempts.py) and finishing an event (finishing.py); this module schedules the work.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncrun.service.accepting import Listener
from asyncrun.service.attempts import Outcome
from asyncrun.service.clock import Clock, VirtualClock
from asyncrun.service.concurrency import DEFAULT_ACCOUNT_CONCURRENCY, Concurrency, Slot, virtual_duration
from asyncrun.service.destinations import Delivery, DestinationSender
from asyncrun.service.executor import Executor
from asyncrun.service.faults import AnyFault, FaultInjector
from asyncrun.service.finishing import Finishing
from asyncrun.service.invokeconfig import InvokeConfigStore
from asyncrun.service.invoking import Invoking
from asyncrun.service.metrics import RECURSIVE_INVOCATIONS_DROPPED, THROTTLES, Metrics
from asyncrun.service.queued import Effects, InFlight, QueuedEvent, RunSummary
from asyncrun.service.records import RECURSION_CONDITION
from asyncrun.service.s3events import S3Bridge
from asyncrun.service.sources import EventSources
from asyncrun.service.trace import AttemptFinished, AttemptStarted, Dropped, TraceEvent
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import InvokeConfig, Stack

log = logging.getLogger(__name__)

RETRY_DELAYS = (60.0, 120.0)  # after the first and the second function error
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0
# Lambda stops a chain after about 16 invocations: events 0..15 of a chain run, the
# 17th is dropped (**unverified** exact boundary).
RECURSION_LIMIT = 16

ConfigApi = Callable[[str, str, Mapping[str, str], bytes], tuple[int, dict[str, str], bytes] | None]


class Engine(Invoking, Finishing):
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
        self._in_flight: list[tuple[float, int, InFlight]] = []
        self.taken = 0  # events taken from the queue so far
        self._overlap_warned = False
        # The engine's state is used from several threads (attempts' handlers, the
        # loopback endpoint's, serve's): this lock guards it, and is let go of while a
        # handler runs (see attempts.py).
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._running: dict[str, list[QueuedEvent]] = {}
        # On the virtual clock an attempt's code runs while the engine waits, so a run is
        # the same every time; on a real clock attempts run at once, in wall time.
        self._parallel = not isinstance(self.clock, VirtualClock)
        self._ran: list[InFlight] = []  # wall time: attempts whose code has run, to be ended
        self._threads = 0  # wall time: attempts whose code runs now
        # Told when there is new work: an event received, an attempt's code run (serve wakes
        # its queue runner).
        self.on_new_work: Callable[[], None] = lambda: None
        # The Lambda API's event-invoke-config operations for the functions' own calls
        # (method, path, query, body -> status, headers, body), set by whoever answers that
        # API (`asyncrun.api.lambda_api.LambdaApi.answer_functions`); None: moto answers.
        self.config_api: ConfigApi | None = None
        self._sequence = itertools.count()
        self._cause: QueuedEvent | None = None  # the event whose record is being delivered
        self._sender = DestinationSender(self.endpoint, self._deliver_to_lambda)
        self.s3 = S3Bridge(stack, self.endpoint, now=self.clock.now)
        self.s3.install()
        self.sources = EventSources(stack, self.endpoint, start=self.clock.now())
        self.sources.install()
        # A function's own asynchronous lambda.invoke arrives on another thread (the
        # loopback endpoint's), while an attempt runs, and so does an Event invoke through
        # serve's Lambda API: it waits here until the engine takes it into its queue.
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        if self.endpoint.embedded:
            self.endpoint.route_function_invokes(self)
        else:
            log.warning(
                "the functions' own lambda.invoke calls go to %s, not to asyncrun: the functions they "
                "invoke run here only if that endpoint runs them",
                self.endpoint.url,
            )

    # ------------------------------------------------------------------ running

    def next_due(self) -> float | None:
        with self.lock:
            dues = [d for d in (self._next_work_due(), self.sources.schedules.next_due()) if d is not None]
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
        return len(self._in_flight) + self._threads + len(self._ran)

    def step(self) -> bool:
        """Do one unit of due work; False when nothing is due yet."""
        with self.lock:
            self._take_ran()
            self._take_function_invokes()
            self._drain_notifications_now()
            while (
                scheduled := self.sources.schedules.next_due()
            ) is not None and scheduled <= self.clock.now():
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

    def run_due(self) -> None:
        """Everything due now, and the ends of the attempts it starts (wall time: waited for)."""
        with self.lock:
            while True:
                while self.step():
                    pass
                if not self._threads:
                    return
                self._changed.wait()

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
        with self.lock:
            started = self.clock.now()
            processed = 0
            self._take_function_invokes()
            self._drain_notifications_now()
            while max_events is None or processed < max_events:
                self._take_ran()
                due = self._next_work_due()
                horizon = deadline if deadline is not None else due
                scheduled = self.sources.schedules.next_due()
                if (
                    scheduled is not None
                    and horizon is not None
                    and scheduled <= horizon
                    and (due is None or scheduled <= due)
                    and (scheduled <= self.clock.now() or not self._threads)
                ):
                    self._fire_next_schedule()
                    continue
                if due is None or (deadline is not None and due > deadline):
                    if self._threads:  # what the running attempts do may queue more
                        self._changed.wait()
                        continue
                    break
                if due > self.clock.now():
                    if self._threads:  # an attempt may end first, in wall time
                        self._changed.wait(due - self.clock.now())
                        continue
                    self.clock.advance_to(due)
                processed += self._do_next_unit()
            finished = max_events is None or processed < max_events
            # Attempts whose code has run end too (past a deadline, or after the last event taken).
            while self._in_flight or self._threads or self._ran:
                self._take_ran()
                if not self._in_flight:
                    self._changed.wait()
                    continue
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
        self._take_ran()
        while self._in_flight and self._in_flight[0][0] <= self.clock.now():
            _, _, in_flight = heapq.heappop(self._in_flight)
            self._end_attempt(in_flight)

    def _drain_notifications_now(self) -> None:
        """What the sources were told outside any attempt's end: a new chain, unless
        attempts run now in wall time, whose writes these may be (then the furthest
        along its chain is taken as the cause: a loop is never let run past the limit)."""
        cause = self._furthest_running()
        self._drain_notifications(
            hops=cause.hops + 1 if cause else 0,
            chain_id=cause.chain_id if cause else None,
            caused_by=cause.request_id if cause else None,
        )

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
        self._attempt_started(event, age_ms)
        injected = self._injected_failure(event)
        if injected is not None:
            self._code_ran(InFlight(event, injected, slot, Effects()), started=now)
        elif self._parallel:
            self._threads += 1
            self._start_handler(event, lambda outcome: self._ran_in_wall_time(event, outcome, slot))
        else:
            # The environment stays the attempt's until its end, later on the virtual clock.
            result = self._run_handler(event, hold=True)
            self._code_ran(InFlight(event, result, slot, Effects()), started=now)

    def _ran_in_wall_time(self, event: QueuedEvent, outcome: Outcome, slot: Slot) -> None:
        """On the handler's thread, under the lock: its end is for the engine's thread."""
        self._threads -= 1
        if isinstance(outcome, BaseException):
            self.concurrency.release(slot)
            log.error(
                "asyncrun: attempt %s of %s failed to run", event.attempts, event.request_id, exc_info=outcome
            )
        else:
            self._ran.append(InFlight(event, outcome, slot, Effects()))
        self.on_new_work()

    def _take_ran(self) -> None:
        ran, self._ran = self._ran, []
        for in_flight in ran:
            self._code_ran(in_flight, started=self.clock.now())

    def _code_ran(self, in_flight: InFlight, *, started: float) -> None:
        """The attempt's code has run: its end is queued, on the virtual clock its
        duration after `started` (rounded, see concurrency.py), in wall time now, with
        what the code did, taken now, while it is its own."""
        result = in_flight.result
        cause = self._furthest_running(in_flight.event) if self._parallel else in_flight.event
        in_flight.effects = Effects(
            self._collect_function_invokes(),
            self.sources.drain(),
            self.s3.drain() if self.s3.active else [],
            cause,
        )
        end = self.clock.now() if self._parallel else started + virtual_duration(result.duration_ms)
        in_flight.slot = self.concurrency.extend(in_flight.slot, end)
        heapq.heappush(self._in_flight, (end, next(self._sequence), in_flight))

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

    def _end_attempt(self, in_flight: InFlight) -> None:
        event, result = in_flight.event, in_flight.result
        self.concurrency.release(in_flight.slot)
        if not self._parallel:
            self.executor.release(event.request_id)
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
            cause = effects.cause or event
            self._accept_function_invokes(effects.invokes + self._collect_function_invokes())
            self._accept_notifications(
                effects.sources + self.sources.drain(),
                effects.s3 + (self.s3.drain() if self.s3.active else []),
                hops=cause.hops + 1,
                chain_id=cause.chain_id,
                caused_by=cause.request_id,
            )

    # ------------------------------------------------------------------ config and listeners

    def put_invoke_config(self, config: InvokeConfig) -> InvokeConfig:
        """Validate and store (replacing) a function's, version's or alias's config."""
        with self.lock:
            return self.invoke_configs.put(config)
