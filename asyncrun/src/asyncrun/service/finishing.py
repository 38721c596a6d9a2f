"""An event's end: a retry rescheduled or the event finished, its invocation record
sent to its destination and its payload to the dead-letter queue."""

from __future__ import annotations

from typing import Literal

from asyncrun.service.destinations import Delivery, DestinationSender
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT, event_too_large
from asyncrun.service.metrics import ASYNC_EVENTS_DROPPED, DEAD_LETTER_ERRORS, DESTINATION_DELIVERY_FAILURES
from asyncrun.service.notifications import Notifying
from asyncrun.service.queued import QueuedEvent
from asyncrun.service.records import RECURSION_CONDITION, UNHANDLED, Condition, build_record
from asyncrun.service.trace import DeliveryEvent, EventFinished, RetryScheduled
from asyncrun.stack.model import InvokeConfig
from asyncrun.stack.resolve import resolve_function

# **unverified**: the ErrorMessage a dead-letter queue gets when the function never ran.
_NOT_RUN_MESSAGES: dict[str, str] = {
    "ZeroReservedConcurrency": "The function's reserved concurrency is 0: the event was not run.",
    RECURSION_CONDITION: "Recursive invocation loop detected: the event was not run.",
    "EventAgeExceeded": "The event reached its maximum age before it could run.",
}


class Finishing(Notifying):
    """Rescheduling and finishing events (the state is set by `Engine`)."""

    deliveries: list[Delivery]
    _cause: QueuedEvent | None
    _sender: DestinationSender

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
