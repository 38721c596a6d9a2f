"""What the engine did, event by event, as it happened: listeners (the report, a
live console) receive each `TraceEvent`, and `Engine.trace` keeps them all. `at` is
the engine clock's time (virtual unless running in real time), in epoch seconds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

AttemptOutcome = Literal["success", "error", "timeout", "throttled"]
DeliveryKind = Literal["on_success", "on_failure", "dead_letter"]
DestinationType = Literal["sqs", "sns", "lambda", "eventbridge", "s3", "unknown"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: float
    request_id: str
    function: str  # physical name

    def to_json(self) -> str:
        return self.model_dump_json()


class Accepted(_Event):
    kind: Literal["accepted"] = "accepted"
    qualifier: str
    payload_bytes: int
    source: str  # "invoke", "s3", "destination", "duplicate"
    hops: int = 0
    # The request whose record a Lambda destination delivered, or whose attempt wrote
    # the object an S3 notification reports: None for a caller's invoke or upload.
    caused_by: str | None = None


class AttemptStarted(_Event):
    kind: Literal["attempt_started"] = "attempt_started"
    attempt: int
    age_ms: int


class AttemptFinished(_Event):
    kind: Literal["attempt_finished"] = "attempt_finished"
    attempt: int
    outcome: AttemptOutcome
    duration_ms: float
    error_type: str | None = None
    error_message: str | None = None
    logs: str | None = None  # the function's log for the attempt, START to REPORT


class RetryScheduled(_Event):
    kind: Literal["retry_scheduled"] = "retry_scheduled"
    delay: float
    reason: Literal["function_error", "throttle"]
    due: float


class EventFinished(_Event):
    kind: Literal["event_finished"] = "event_finished"
    condition: str
    approximate_invoke_count: int


class DeliveryEvent(_Event):
    kind: Literal["delivery"] = "delivery"
    delivery: DeliveryKind
    destination_type: DestinationType
    target_arn: str
    ok: bool
    error: str | None = None
    body: str = ""  # what was sent: the record JSON, or the event payload for a dead-letter queue


class S3Notification(_Event):
    kind: Literal["s3_notification"] = "s3_notification"
    bucket: str
    key: str  # decoded
    configuration_id: str


class Dropped(_Event):
    kind: Literal["dropped"] = "dropped"
    reason: str


TraceEvent = Annotated[
    Accepted
    | AttemptStarted
    | AttemptFinished
    | RetryScheduled
    | EventFinished
    | DeliveryEvent
    | S3Notification
    | Dropped,
    Field(discriminator="kind"),
]
TRACE_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)


def trace_event_from_json(text: str) -> TraceEvent:
    return TRACE_ADAPTER.validate_json(text)
