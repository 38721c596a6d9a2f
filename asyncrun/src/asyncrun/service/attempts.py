"""One attempt's run: its start in the trace and metrics, the handler run by the
executor (on a thread of its own, without the engine's lock) or a failure injected
in its place, and its end in the trace.

The engine's lock guards its state; it is never held while a handler runs, so a
function's own calls (an `Invoke` through the loopback endpoint) and, in wall time,
other attempts go on meanwhile. Which attempt made a call is known from the
environment that made it: the executor says which request each environment runs, and
`_running` maps requests to their events."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from asyncrun.service.accepting import Accepting
from asyncrun.service.concurrency import Concurrency
from asyncrun.service.executor import AttemptResult, Executor
from asyncrun.service.faults import INJECTED_ERROR_TYPE, FaultKind
from asyncrun.service.metrics import ERRORS, INVOCATIONS
from asyncrun.service.queued import QueuedEvent
from asyncrun.service.records import function_error_payload, timeout_error_payload
from asyncrun.service.trace import AttemptFinished, AttemptOutcome, AttemptStarted

log = logging.getLogger(__name__)

# What a handler's thread hands back: its result, or what the executor raised.
Outcome = AttemptResult | BaseException


class Attempting(Accepting):
    """Running attempts (the state is set by `Engine`)."""

    executor: Executor
    concurrency: Concurrency
    _changed: threading.Condition  # on the engine's lock: a handler's run has ended
    _running: dict[str, list[QueuedEvent]]  # request id -> its events whose code runs now
    _overlap_warned: bool

    def _attempt_started(self, event: QueuedEvent, age_ms: int) -> None:
        """Count the attempt and put its start in the trace; the clock does not move."""
        spec = event.function
        event.attempts += 1
        started = self.clock.now()
        self.metrics.record_age(spec.name, age_ms)
        self.metrics.incr(spec.name, INVOCATIONS)
        running = self.concurrency.running(spec.name, started)
        self.metrics.record_concurrency(spec.name, running)
        self._warn_if_sharing(spec.name, running)
        self._emit(
            AttemptStarted(
                at=started,
                request_id=event.request_id,
                function=spec.name,
                attempt=event.attempts,
                age_ms=age_ms,
            )
        )

    def _warn_if_sharing(self, function: str, running: int) -> None:
        """Once a run: an executor without an environment per attempt shares one (the README's gap)."""
        if running > 1 and not self.executor.isolates_concurrent_attempts and not self._overlap_warned:
            self._overlap_warned = True
            log.warning(
                "attempts overlap (first of %s) but run one after another in one execution environment "
                "of their function with this executor; Lambda starts one, with its init, for each",
                function,
            )

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

    def _run_handler(self, event: QueuedEvent, *, hold: bool = False) -> AttemptResult:
        """Run the handler and wait for it, the engine's lock let go meanwhile (called
        with it held)."""
        box: list[Outcome] = []
        self._start_handler(event, box.append, hold=hold)
        while not box:
            self._changed.wait()
        outcome = box[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _start_handler(
        self, event: QueuedEvent, then: Callable[[Outcome], None], *, hold: bool = False
    ) -> None:
        """Run the handler on a thread of its own; `then` gets the outcome, under the
        engine's lock, when it has run (called with the lock held)."""
        spec = event.function
        self._running.setdefault(event.request_id, []).append(event)

        def run() -> None:
            outcome: Outcome
            try:
                outcome = self.executor.run(
                    spec,
                    version=event.version,
                    invoked_arn=event.invoked_arn,
                    payload=event.payload,
                    request_id=event.request_id,
                    timeout=float(spec.timeout),
                    hold=hold,
                )
            except BaseException as error:  # handed to whoever waits, never lost on this thread
                outcome = error
            with self._changed:
                running = self._running[event.request_id]
                running.remove(event)
                if not running:
                    del self._running[event.request_id]
                then(outcome)
                self._changed.notify_all()

        threading.Thread(target=run, name=f"asyncrun-attempt-{spec.name}", daemon=True).start()

    def _caller(self, environment_id: str | None) -> QueuedEvent | None:
        """The event whose attempt runs in the environment, or None."""
        if environment_id is None:
            return None
        request_id = self.executor.caller(environment_id)
        with self._changed:
            running = self._running.get(request_id or "")
            return running[0] if running else None

    def _furthest_running(self, *candidates: QueuedEvent) -> QueuedEvent | None:
        """The running attempt (or candidate) furthest along its chain: what a write is
        attributed to when several attempts run at once in wall time."""
        events = [*candidates, *(e for running in self._running.values() for e in running)]
        return max(events, key=lambda e: e.hops, default=None)

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
        self.executor.reset(spec)
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
