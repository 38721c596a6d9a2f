"""One attempt's run: its start in the trace and metrics, the handler run by the
executor or a failure injected in its place, and its end in the trace."""

from __future__ import annotations

import json

from asyncrun.service.accepting import Accepting
from asyncrun.service.concurrency import Concurrency, Slot
from asyncrun.service.executor import AttemptResult, Executor
from asyncrun.service.faults import INJECTED_ERROR_TYPE, FaultKind
from asyncrun.service.metrics import ERRORS, INVOCATIONS
from asyncrun.service.queued import QueuedEvent
from asyncrun.service.records import function_error_payload, timeout_error_payload
from asyncrun.service.trace import AttemptFinished, AttemptOutcome, AttemptStarted


class Attempting(Accepting):
    """Running attempts (the state is set by `Engine`)."""

    executor: Executor
    concurrency: Concurrency

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
