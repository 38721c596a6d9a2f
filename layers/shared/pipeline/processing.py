"""The process stage: validate every row of each accepted upload and record the outcome
in the process table, once per upload."""

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict

from pipeline import objects, process_table
from pipeline.errors import EmptyBatchError, InvalidEventError, TooManyRejectedRowsError
from pipeline.idempotency import once_per_upload
from pipeline.observability import ROWS_PROCESSED, ROWS_REJECTED, bind_upload, count, logger, tracer
from pipeline.orders import RejectedRow, summarize
from pipeline.records import InvocationRecord, StageInvocation
from pipeline.settings import get_settings
from pipeline.uploads import AcceptedUpload, UploadResult

MAX_REJECTED_SAMPLES = 5

ProcessStatus = Literal["PROCESSED", "REJECTED"]


class ProcessedUpload(BaseModel):
    """The outcome of one upload, as written to the process table and passed on to audit."""

    model_config = ConfigDict(frozen=True)

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

    model_config = ConfigDict(frozen=True)

    processed: list[ProcessedUpload]


def rejected_share_exceeds(rejected: int, total: int, threshold: float) -> bool:
    # Exact fractions: 1 of 5 rejected is exactly at a 0.2 threshold, and passes.
    return Fraction(rejected, total) > Fraction(str(threshold))


@tracer.capture_method
def process_upload(
    *, upload: AcceptedUpload, upload_stage: StageInvocation, request_id: str
) -> ProcessedUpload:
    """Validate the upload's rows and write its item. Raises when the batch as a whole is
    not acceptable; the item then records the rejection before the invocation fails."""
    settings = get_settings()
    table_name = settings.required("process_table_name")
    with objects.open_text(upload.bucket, upload.key, upload.version_id) as text:
        summary = summarize(text, upload.format, max_samples=MAX_REJECTED_SAMPLES)
    if summary.total_rows == 0:
        raise EmptyBatchError(
            f"s3://{upload.bucket}/{upload.key} has no order rows, only a header or blank lines"
        )

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
    process_table.save(table_name, processed)
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
    if too_many:
        first = summary.rejected_samples[0]
        raise TooManyRejectedRowsError(
            f"{summary.rejected_rows} of {summary.total_rows} rows of s3://{upload.bucket}/{upload.key} were "
            f"rejected ({summary.rejected_rows / summary.total_rows:.1%}), above REJECTION_THRESHOLD "
            f"{settings.rejection_threshold}; first: row {first.row}: {first.reason}"
        )
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
