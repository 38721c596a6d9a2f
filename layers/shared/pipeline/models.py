"""The contracts between the stages, and the records that carry them: what upload
returns and process receives, what process returns and audit receives, what audit
writes, and the invocation record Lambda wraps around each of them. Data only: no AWS
call, no logic beyond checking the shape."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_serializer
from pydantic.alias_generators import to_camel

from pipeline.errors import InvalidEventError

# Every model's validator is built on its first use, not at import: each function
# validates only a few of these contracts, and a cold start should not build the rest.
_FROZEN = ConfigDict(frozen=True, defer_build=True)

# ---------------------------------------------------------------------- invocation records

# Every condition a record can carry. "RecursiveInvocationDropped" is the local runner's
# word for an event stopped by recursive loop detection (**unverified**: Lambda's record
# for that case was not observed); accepting it costs nothing and refusing it would turn
# a dropped event into a parsing failure.
Condition = Literal[
    "Success", "RetriesExhausted", "EventAgeExceeded", "ZeroReservedConcurrency", "RecursiveInvocationDropped"
]


class _RecordModel(BaseModel):
    # Unknown keys are ignored: a new field from the service must not fail a stage.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", defer_build=True
    )


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
    """The record Lambda sends to a destination after an asynchronous invocation: what
    process and audit receive (OnSuccess) and what the debug queue holds (OnFailure).

    `InvocationRecord[UploadResult]` validates a Success record's payload into the stage
    result; bare `InvocationRecord` keeps the payloads as parsed JSON."""

    version: str
    timestamp: AwareDatetime
    request_context: RequestContext
    request_payload: Any = None
    response_context: ResponseContext | None = None  # absent when the function never ran
    response_payload: PayloadT | None = None  # absent when the function never ran

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


def parse_event[ModelT: BaseModel](event: Any, model: type[ModelT]) -> ModelT:
    """`event` validated as `model`, or InvalidEventError naming where and which rule
    failed. pydantic's own message quotes the offending input, and an event holds
    what should not reach a log or an alert (the S3 requester, a row's values)."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in detail['loc']) or 'event'}: {detail['msg']}"
            for detail in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise InvalidEventError(
            f"the event is not a valid {model.__name__}: {'; '.join(problems[:3])}"
            + ("; ..." if len(problems) > 3 else "")
        ) from None


def parse_success[ResultT: BaseModel](
    event: Any, result_model: type[ResultT]
) -> "InvocationRecord[ResultT]":  # quoted: parametrizing builds the model
    """The Success record of the previous stage, with its result validated.

    A stage wired as an OnSuccess destination should never see another condition; if
    it does (a mis-wired destination, a hand-made redrive), it refuses the record."""
    record: InvocationRecord[Any] = parse_event(event, InvocationRecord)
    if not record.succeeded or record.response_payload is None:
        raise InvalidEventError(
            f"expected a Success record with a response payload from the previous stage, got condition "
            f"{record.condition!r} from {record.request_context.function_arn}"
        )
    return parse_event(event, InvocationRecord[result_model])  # type: ignore[valid-type]


# ---------------------------------------------------------------------- upload -> process

UploadFormat = Literal["csv", "jsonl"]


class AcceptedUpload(BaseModel):
    """One object that passed the upload checks: the unit of work of the next stages."""

    model_config = _FROZEN

    upload_id: str  # uuid5 of bucket, key and version: the same object version -> the same id
    correlation_id: str  # the upload_id: stable across retries and duplicate deliveries
    bucket: str
    key: str  # decoded
    version_id: str | None  # None only for an unversioned bucket
    etag: str
    size: int
    sha256: str
    format: UploadFormat
    content_type: str | None
    event_name: str
    event_time: AwareDatetime
    received_at: AwareDatetime


class UploadResult(BaseModel):
    """The upload stage's return value (the `responsePayload` the process stage gets).

    A list, because one notification may carry several records; S3 sends one in practice."""

    model_config = _FROZEN

    uploads: list[AcceptedUpload]


# ---------------------------------------------------------------------- process -> audit

ProcessStatus = Literal["PROCESSED", "REJECTED"]


class RejectedRow(BaseModel):
    """Where a rejected row is and why, never what it holds: a row's values (its order
    id included, which may be anything when the row is invalid) stay in the uploaded
    object, which row and line point into."""

    model_config = _FROZEN

    row: int  # 1-based ordinal among the data rows
    line: int  # 1-based line of the file where the row starts (the CSV header is line 1)
    reason: str = Field(max_length=300)  # column names and rules, never values


class ProcessedUpload(BaseModel):
    """The outcome of one upload, as written to the process table and passed on to audit."""

    model_config = _FROZEN

    upload_id: str
    correlation_id: str
    status: ProcessStatus
    total_rows: int
    valid_rows: int
    rejected_rows: int
    totals: dict[str, Decimal]  # per currency: sum of quantity * unit_price of the valid rows
    rejected_samples: list[RejectedRow]
    table_name: str
    table_key: dict[str, str]
    upload: AcceptedUpload
    # The upload stage's invocation (from the record process received), carried forward
    # so that audit can report the whole chain.
    upload_stage: StageInvocation
    process_request_id: str
    processed_at: AwareDatetime


class ProcessResult(BaseModel):
    """The process stage's return value (the `responsePayload` the audit stage gets)."""

    model_config = _FROZEN

    processed: list[ProcessedUpload]


# ---------------------------------------------------------------------- audit


class Outcome(BaseModel):
    model_config = _FROZEN

    status: ProcessStatus
    total_rows: int
    valid_rows: int
    rejected_rows: int
    totals: dict[str, Decimal]
    rejected_samples: list[RejectedRow]
    table_name: str
    table_key: dict[str, str]
    processed_at: AwareDatetime


class ChainStages(BaseModel):
    """Each stage's invocation: upload's and process's from their records, audit's from
    its own Lambda context (its record does not exist yet)."""

    model_config = _FROZEN

    upload: StageInvocation
    process: StageInvocation
    audit: StageInvocation


class AuditEntry(BaseModel):
    """The JSON document stored in the audit bucket. It holds identifiers (bucket, key,
    request ids, ARNs), counts, totals and the rejected rows' positions and reasons:
    nothing of the S3 event's requester (IP address, principal) and no row's values."""

    model_config = _FROZEN

    schema_version: Literal["1"] = "1"
    upload_id: str
    correlation_id: str
    upload: AcceptedUpload
    outcome: Outcome
    stages: ChainStages
    audited_at: AwareDatetime


class AuditEntryRef(BaseModel):
    model_config = _FROZEN

    upload_id: str
    bucket: str
    key: str
    # None when an earlier delivery wrote the entry (its version is not read back:
    # the function may only write to the audit bucket).
    version_id: str | None


class AuditResult(BaseModel):
    """The audit stage's return value (the end of the chain)."""

    model_config = _FROZEN

    entries: list[AuditEntryRef]
