"""Process stage: the upload function's OnSuccess destination.

Receives upload's invocation record, validates every row of each accepted upload and
writes one item per upload to the process table (once per upload_id). Its return value
reaches the audit stage through the OnSuccess destination."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline.models import UploadResult, parse_success
from pipeline.observability import logger, metrics, tracer
from pipeline.processing import process_uploads


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    record = parse_success(event, UploadResult)
    return process_uploads(record, context).model_dump(mode="json")
