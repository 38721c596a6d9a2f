"""The process stage: validate every row of each accepted upload and record the outcome
in the process table, once per upload.

A retry helps only where the cause can go away. An unreadable file, an empty batch or
too many rejected rows will fail the same way on the same object version, so the first
attempt records the failure in the upload's item, and Lambda's later attempts of the
same event (the same request id) fail again from that record at once, without reading
the object: the invocation record still reaches OnFailure once, after the last attempt.
Anything else (throttling, a network error, a timeout) is retried in full."""

# Annotations unevaluated: `InvocationRecord[...]` in a signature would build that model
# at import, before any invocation needs it.
from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import objects, process_table
from pipeline.errors import (
    EmptyBatchError,
    InvalidEventError,
    ProcessingError,
    TooManyRejectedRowsError,
    UnparsableUploadError,
)
from pipeline.idempotency import once_per_upload
from pipeline.models import (
    AcceptedUpload,
    InvocationRecord,
    ProcessedUpload,
    ProcessResult,
    StageInvocation,
    UploadResult,
)
from pipeline.observability import ROWS_PROCESSED, ROWS_REJECTED, bind_upload, count, logger, tracer
from pipeline.orders import BatchSummary, summarize
from pipeline.settings import get_settings

MAX_REJECTED_SAMPLES = 5

# The failures that depend only on the object's content and the settings: retrying
# them reads the object again for the same answer.
PERMANENT_FAILURES: dict[str, type[ProcessingError]] = {
    error.__name__: error for error in (UnparsableUploadError, EmptyBatchError, TooManyRejectedRowsError)
}


def rejected_share_exceeds(rejected: int, total: int, threshold: float) -> bool:
    # Exact fractions: 1 of 5 rejected is exactly at a 0.2 threshold, and passes.
    return Fraction(rejected, total) > Fraction(str(threshold))


def _fail_again_if_remembered(table_name: str, upload: AcceptedUpload, request_id: str) -> None:
    remembered = process_table.failure_of(table_name, upload.upload_id)
    if (
        remembered is None
        or remembered.process_request_id != request_id  # another event (a redrive): decide afresh
        or remembered.sha256 != upload.sha256
        or remembered.error_type not in PERMANENT_FAILURES
    ):
        return
    logger.warning(
        "an earlier attempt of this event failed for good; failing again without reading the object",
        extra={"error_type": remembered.error_type},
    )
    raise PERMANENT_FAILURES[remembered.error_type](remembered.error_message)


def _summary_of(upload: AcceptedUpload) -> BatchSummary:
    with objects.open_text(upload.bucket, upload.key, upload.version_id) as text:
        summary = summarize(text, upload.format, max_samples=MAX_REJECTED_SAMPLES)
    if summary.total_rows == 0:
        raise EmptyBatchError(
            f"s3://{upload.bucket}/{upload.key} has no order rows, only a header or blank lines"
        )
    return summary


@tracer.capture_method(capture_response=False)
def process_upload(
    *, upload: AcceptedUpload, upload_stage: StageInvocation, request_id: str
) -> ProcessedUpload:
    """Validate the upload's rows and write its item. Raises when the batch as a whole is
    not acceptable; the item then records the failure before the invocation fails."""
    settings = get_settings()
    table_name = settings.required("process_table_name")
    _fail_again_if_remembered(table_name, upload, request_id)
    try:
        summary = _summary_of(upload)
    except (UnparsableUploadError, EmptyBatchError) as error:
        process_table.save_failure(table_name, upload, upload_stage, request_id, datetime.now(UTC), error)
        raise

    too_many = rejected_share_exceeds(summary.rejected_rows, summary.total_rows, settings.rejection_threshold)
    processed = ProcessedUpload(
        upload_id=upload.upload_id,
        correlation_id=upload.correlation_id,
        status="REJECTED" if too_many else "PROCESSED",
        total_rows=summary.total_rows,
        valid_rows=summary.valid_rows,
        rejected_rows=summary.rejected_rows,
        totals=summary.totals,
        rejected_samples=summary.rejected_samples,
        table_name=table_name,
        table_key=process_table.key_of(upload.upload_id),
        upload=upload,
        upload_stage=upload_stage,
        process_request_id=request_id,
        processed_at=datetime.now(UTC),
    )
    rejection = None
    if too_many:
        first = summary.rejected_samples[0]
        rejection = TooManyRejectedRowsError(
            f"{summary.rejected_rows} of {summary.total_rows} rows of s3://{upload.bucket}/{upload.key} were "
            f"rejected ({summary.rejected_rows / summary.total_rows:.1%}), above REJECTION_THRESHOLD "
            f"{settings.rejection_threshold}; first: row {first.row} (line {first.line}): {first.reason}"
        )
    stored = process_table.save(table_name, processed, rejection)
    if stored is not processed:
        logger.warning(
            "the upload was processed before; that outcome stands",
            extra={"process_request_id": stored.process_request_id},
        )
        return stored
    count(ROWS_PROCESSED, summary.total_rows)
    count(ROWS_REJECTED, summary.rejected_rows)
    logger.info(
        "upload processed",
        extra={
            "status": processed.status,
            "total_rows": summary.total_rows,
            "rejected_rows": summary.rejected_rows,
            "totals": {currency: str(total) for currency, total in summary.totals.items()},
        },
    )
    if rejection:
        raise rejection
    return processed


def process_uploads(record: InvocationRecord[UploadResult], context: LambdaContext) -> ProcessResult:
    """Process each upload of the upload stage's Success record, once per upload_id."""
    run_once = once_per_upload(
        process_upload,
        key_prefix="process",
        data_keyword_argument="upload",
        result_model=ProcessedUpload,
        context=context,
    )
    upload_stage = record.stage()
    processed = []
    for upload in _payload(record).uploads:
        bind_upload(upload.upload_id, upload.correlation_id)
        processed.append(
            run_once(upload=upload, upload_stage=upload_stage, request_id=context.aws_request_id)
        )
    return ProcessResult(processed=processed)


def _payload(record: InvocationRecord[UploadResult]) -> UploadResult:
    if record.response_payload is None:
        raise InvalidEventError("the upload stage's record has no response payload")
    return record.response_payload
