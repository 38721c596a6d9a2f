"""The invocation record Lambda sends to a destination after an asynchronous invocation:
what the process and audit stages receive (OnSuccess) and what the debug queue holds
(OnFailure, through the alert topic). One model for every consumer."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer
from pydantic.alias_generators import to_camel

from pipeline.errors import InvalidEventError

Condition = Literal["Success", "RetriesExhausted", "EventAgeExceeded", "ZeroReservedConcurrency"]


class _RecordModel(BaseModel):
    # Unknown keys are ignored: a new field from the service must not fail a stage.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class RequestContext(_RecordModel):
    request_id: str
    function_arn: str  # always qualified (":$LATEST", a version, or an alias)
    condition: Condition
    approximate_invoke_count: int


class ResponseContext(_RecordModel):
    status_code: int  # 200 even for a function error
    executed_version: str
    function_error: str | None = None  # "Unhandled" on failure, absent on success


class FunctionError(_RecordModel):
    """The error object of a failed invocation (a raised exception or a timeout)."""

    error_message: str
    error_type: str
    request_id: str | None = None  # absent from a timeout's error
    stack_trace: list[str] | None = None


class StageInvocation(_RecordModel):
    """What the chain remembers of one stage's invocation: the facts of its record, or,
    for the stage that is running, of its Lambda context."""

    request_id: str
    function_arn: str
    executed_version: str | None = None
    condition: Condition | None = None
    approximate_invoke_count: int | None = None
    timestamp: AwareDatetime | None = None  # the record's (when the invocation ended)


class InvocationRecord[PayloadT](_RecordModel):
    """`InvocationRecord[UploadResult]` validates a Success record's payload into the stage
    result; bare `InvocationRecord` keeps the payloads as parsed JSON."""

    version: str
    timestamp: AwareDatetime
    request_context: RequestContext
    request_payload: Any = None
    response_context: ResponseContext | None = None  # absent for ZeroReservedConcurrency
    response_payload: PayloadT | None = None  # absent for ZeroReservedConcurrency

    @field_serializer("timestamp")
    def _timestamp_as_lambda_writes_it(self, value: datetime) -> str:
        # UTC, milliseconds, "Z": the exact form of the service's records.
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"

    @property
    def condition(self) -> Condition:
        return self.request_context.condition

    @property
    def succeeded(self) -> bool:
        return self.condition == "Success"

    @property
    def function_name(self) -> str:
        return self.request_context.function_arn.split(":")[6]

    def error(self) -> FunctionError | None:
        """The function's error, for a record of a failed invocation that ran at least once."""
        context = self.response_context
        if context is None or context.function_error is None or not isinstance(self.response_payload, dict):
            return None
        return FunctionError.model_validate(self.response_payload)

    def stage(self) -> StageInvocation:
        return StageInvocation(
            request_id=self.request_context.request_id,
            function_arn=self.request_context.function_arn,
            executed_version=self.response_context.executed_version if self.response_context else None,
            condition=self.condition,
            approximate_invoke_count=self.request_context.approximate_invoke_count,
            timestamp=self.timestamp,
        )


def parse_success[ResultT: BaseModel](event: Any, result_model: type[ResultT]) -> InvocationRecord[ResultT]:
    """The Success record of the previous stage, with its result validated.

    A stage wired as an OnSuccess destination should never see another condition; if
    it does (a mis-wired destination, a hand-made redrive), it refuses the record."""
    record: InvocationRecord[Any] = InvocationRecord.model_validate(event)
    if not record.succeeded or record.response_payload is None:
        raise InvalidEventError(
            f"expected a Success record with a response payload from the previous stage, got condition "
            f"{record.condition!r} from {record.request_context.function_arn}"
        )
    return InvocationRecord[result_model].model_validate(event)  # type: ignore[valid-type]
