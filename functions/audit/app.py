"""Audit stage: the process function's OnSuccess destination, the end of the chain.

Receives process's invocation record and writes one JSON entry per upload to the audit
bucket with every stage's invocation (once per upload_id)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline.auditing import audit_uploads
from pipeline.models import ProcessResult, parse_success
from pipeline.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    record = parse_success(event, ProcessResult)
    return audit_uploads(record, context).model_dump(mode="json")
