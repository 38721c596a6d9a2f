"""The audit stage: one entry per processed upload with the whole chain of invocations
that led to it, written once per upload."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict

from pipeline import audit_log
from pipeline.errors import InvalidEventError
from pipeline.idempotency import once_per_upload
from pipeline.observability import AUDIT_ENTRIES_WRITTEN, bind_upload, count, logger, tracer
from pipeline.orders import RejectedRow
from pipeline.processing import ProcessedUpload, ProcessResult, ProcessStatus
from pipeline.records import InvocationRecord, StageInvocation
from pipeline.settings import get_settings
from pipeline.uploads import AcceptedUpload


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

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

    model_config = ConfigDict(frozen=True)

    upload: StageInvocation
    process: StageInvocation
    audit: StageInvocation


class AuditEntry(BaseModel):
    """The JSON document stored in the audit bucket."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = "1"
    upload_id: str
    correlation_id: str
    upload: AcceptedUpload
    outcome: Outcome
    stages: ChainStages
    audited_at: AwareDatetime


class AuditEntryRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    upload_id: str
    bucket: str
    key: str
    version_id: str | None


class AuditResult(BaseModel):
    """The audit stage's return value (the end of the chain)."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntryRef]


def entry_for(
    processed: ProcessedUpload, *, process_stage: StageInvocation, audit_stage: StageInvocation
) -> AuditEntry:
    return AuditEntry(
        upload_id=processed.upload_id,
        correlation_id=processed.correlation_id,
        upload=processed.upload,
        outcome=Outcome.model_validate(processed, from_attributes=True),
        stages=ChainStages(upload=processed.upload_stage, process=process_stage, audit=audit_stage),
        audited_at=datetime.now(UTC),
    )


@tracer.capture_method
def audit_upload(
    *, processed: ProcessedUpload, process_stage: StageInvocation, audit_stage: StageInvocation
) -> AuditEntryRef:
    bucket = get_settings().required("audit_bucket_name")
    entry = entry_for(processed, process_stage=process_stage, audit_stage=audit_stage)
    # Dated by process's record, not by the clock: a retry writes the same key.
    day = process_stage.timestamp or entry.audited_at
    key = audit_log.key_for(processed.upload_id, day)
    version_id = audit_log.write(bucket, key, entry.model_dump_json(indent=2).encode())
    count(AUDIT_ENTRIES_WRITTEN)
    logger.info("audit entry written", extra={"bucket": bucket, "key": key})
    return AuditEntryRef(upload_id=processed.upload_id, bucket=bucket, key=key, version_id=version_id)


def audit_stage_of(context: LambdaContext) -> StageInvocation:
    return StageInvocation(
        request_id=context.aws_request_id,
        function_arn=context.invoked_function_arn,
        executed_version=context.function_version,
        timestamp=datetime.now(UTC),
    )


def audit_uploads(record: InvocationRecord[ProcessResult], context: LambdaContext) -> AuditResult:
    """Write the entry of each upload of the process stage's Success record, once per upload_id."""
    run_once = once_per_upload(
        audit_upload,
        key_prefix="audit",
        data_keyword_argument="processed",
        result_model=AuditEntryRef,
        context=context,
    )
    process_stage = record.stage()
    audit_stage = audit_stage_of(context)
    entries = []
    for processed in _payload(record).processed:
        bind_upload(processed.upload_id, processed.correlation_id)
        entries.append(run_once(processed=processed, process_stage=process_stage, audit_stage=audit_stage))
    return AuditResult(entries=entries)


def _payload(record: InvocationRecord[ProcessResult]) -> ProcessResult:
    if record.response_payload is None:
        raise InvalidEventError("the process stage's record has no response payload")
    return record.response_payload
