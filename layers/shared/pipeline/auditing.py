"""The audit stage: one entry per processed upload with the whole chain of invocations
that led to it, written once per upload."""

# Annotations unevaluated: `InvocationRecord[...]` in a signature would build that model
# at import, before any invocation needs it.
from __future__ import annotations

import os
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import audit_log
from pipeline.errors import InvalidEventError
from pipeline.idempotency import once_per_upload
from pipeline.models import (
    AuditEntry,
    AuditEntryRef,
    AuditResult,
    ChainStages,
    InvocationRecord,
    Outcome,
    ProcessedUpload,
    ProcessResult,
    StageInvocation,
)
from pipeline.observability import AUDIT_ENTRIES_WRITTEN, bind_upload, count, logger, tracer
from pipeline.settings import get_settings


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


@tracer.capture_method(capture_response=False)
def audit_upload(
    *, processed: ProcessedUpload, process_stage: StageInvocation, audit_stage: StageInvocation
) -> AuditEntryRef:
    bucket = get_settings().required("audit_bucket_name")
    entry = entry_for(processed, process_stage=process_stage, audit_stage=audit_stage)
    # Dated by the upload's own S3 event, nothing later: every delivery, retry or redrive
    # of the same upload, however late, names the same key, and the write is refused
    # once it exists.
    key = audit_log.key_for(processed.upload_id, processed.upload.event_time)
    written = audit_log.write(
        bucket,
        key,
        # One line: Athena's and Glue's JSON readers take one object per line.
        entry.model_dump_json().encode() + b"\n",
        expected_owner=expected_bucket_owner(audit_stage),
    )
    if written.first:
        count(AUDIT_ENTRIES_WRITTEN)
        logger.info("audit entry written", extra={"bucket": bucket, "key": key})
    else:
        logger.warning(
            "the upload's audit entry exists already; it stands", extra={"bucket": bucket, "key": key}
        )
    return AuditEntryRef(upload_id=processed.upload_id, bucket=bucket, key=key, version_id=written.version_id)


# The Lambda Runtime Interface Emulator (what `sam local` runs) builds every invoked ARN
# from this fixed account, whoever's credentials the function has.
_EMULATOR_ACCOUNT = "012345678912"


def expected_bucket_owner(audit_stage: StageInvocation) -> str | None:
    """The account of the running function (`arn:aws:lambda:region:account:function:...`),
    which owns the audit bucket. Under `sam local` the context's account is the runtime
    emulator's placeholder, not the bucket's, so the owner is not checked there. Local
    runners that set AWS_SAM_LOCAL but give the stack's own account (asyncrun) keep the
    check, as deployed."""
    account = audit_stage.function_arn.split(":")[4]
    if account == _EMULATOR_ACCOUNT and os.environ.get("AWS_SAM_LOCAL") == "true":
        logger.warning(
            "sam local: the context names no real account; the audit bucket's owner is not checked"
        )
        return None
    return account


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
