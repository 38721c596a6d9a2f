"""Invoking a function now: `Invoke` as the Lambda API answers it, from a caller
(serve's Lambda API, the command line) or from a function's own code through the
loopback endpoint, and `RequestResponse`'s run in an environment of the target."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from asyncrun.errors import TooManyRequestsError, ValidationError
from asyncrun.service.attempts import Attempting
from asyncrun.service.concurrency import Slot
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT, REQUEST_RESPONSE_PAYLOAD_LIMIT
from asyncrun.service.metrics import THROTTLES
from asyncrun.service.notifications import Notifying
from asyncrun.service.queued import InvokeResult, QueuedEvent, payload_bytes
from asyncrun.service.records import UNHANDLED
from asyncrun.stack.resolve import resolve_function

INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")


class Invoking(Attempting, Notifying):
    """Synchronous invokes and the Lambda API's `Invoke` (the state is set by `Engine`)."""

    lock: threading.RLock
    on_new_work: Callable[[], None]

    def _complete_due(self) -> None:
        """End every attempt whose end is due (`Engine`'s)."""

    def invoke_sync(
        self,
        function: str,
        payload: bytes | str | Mapping[str, Any] | None,
        *,
        qualifier: str | None = None,
        caller: QueuedEvent | None = None,
    ) -> InvokeResult:
        """`Invoke` with `InvocationType=RequestResponse`: run now, once; no retries,
        no destinations; 429 when the function's concurrency is all in use. From a
        function's code, `caller` is the event whose attempt made the call: the invoked
        one is one hop further along its chain."""
        target = resolve_function(self.stack, function, qualifier)
        spec = target.spec
        body = payload_bytes(payload, REQUEST_RESPONSE_PAYLOAD_LIMIT)
        with self.lock:
            if caller is None:
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
                hops=caller.hops + 1 if caller is not None else 0,
                chain_id=caller.chain_id if caller is not None else str(uuid.uuid4()),
                caused_by=caller.request_id if caller is not None else None,
            )
            try:
                self._attempt_started(event, age_ms=0)
                result = self._injected_failure(event) or self._run_handler(event)
                if caller is None:
                    # The caller waited for the answer: the clock moves by the run. Within
                    # a calling attempt, its own duration already holds this one.
                    self.clock.elapsed(result.duration_ms / 1000)
            finally:
                self.concurrency.release(slot)
            self._attempt_finished(event, result)
            self._drain_notifications(
                hops=event.hops + 1, chain_id=event.chain_id, caused_by=event.request_id
            )
        return InvokeResult(
            event.request_id,
            200,
            result.payload,
            target.version,
            None if result.ok else UNHANDLED,
            result.logs or "",
        )

    def invoke(
        self,
        function: str,
        payload: bytes,
        *,
        invocation_type: str,
        qualifier: str | None = None,
        log_type: str | None = None,
        environment: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """`Invoke` as the Lambda API answers it (status, headers, body): through serve's
        Lambda API, or made by a function's code in `environment` (its attempt is the
        caller: an `Event` is queued one hop along its chain, a `RequestResponse` runs
        now in an environment of the target while the caller waits)."""
        if invocation_type not in INVOCATION_TYPES:
            raise ValidationError.of(
                f"Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [RequestResponse, Event, DryRun]"
            )
        target = resolve_function(self.stack, function, qualifier, by_logical_id=False)
        if invocation_type == "DryRun":
            return 204, {}, b""
        caller = self._caller(environment)
        if invocation_type == "Event":
            body = payload_bytes(payload, EVENT_PAYLOAD_LIMIT)
            request_id = str(uuid.uuid4())
            # Taken when the engine next looks, so the 202 never waits for a running attempt:
            # a caller's at its attempt's end, as what its code did; any other as received.
            received_at = None if caller is not None else self.clock.now()
            self._inbox.put((target, body, request_id, caller, received_at))
            self.on_new_work()
            # No ExecutedVersion for an event (docs/async-semantics.md R1.1); the request
            # id is the one the function will see.
            return 202, {"X-Amzn-RequestId": request_id}, b""
        result = self.invoke_sync(function, payload, qualifier=qualifier, caller=caller)
        return result.status_code, result.headers(log_tail=log_type == "Tail"), result.payload
