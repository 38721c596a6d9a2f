"""Upload stage: invoked asynchronously by the upload bucket's ObjectCreated notification.

Checks and fingerprints each new object; its return value reaches the process stage
through the OnSuccess destination. A failed check raises, so Lambda retries and then
sends the record to OnFailure (the alert topic)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline.events import S3EventNotification
from pipeline.models import parse_event
from pipeline.observability import logger, metrics, tracer
from pipeline.uploads import accept_uploads


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = parse_event(event, S3EventNotification)
    return accept_uploads(notification).model_dump(mode="json")
