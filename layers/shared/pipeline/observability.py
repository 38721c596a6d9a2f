"""Logger, Tracer and Metrics, created once per process and shared by every module.

They are built at import because the handlers' decorators need them; building them
only reads POWERTOOLS_* variables. Tracing is off when POWERTOOLS_TRACE_DISABLED=true
(tests) or under `sam local` (AWS_SAM_LOCAL=true)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

UPLOADS_ACCEPTED = "UploadsAccepted"
ROWS_PROCESSED = "RowsProcessed"
ROWS_REJECTED = "RowsRejected"
AUDIT_ENTRIES_WRITTEN = "AuditEntriesWritten"


def bind_upload(upload_id: str, correlation_id: str) -> None:
    """Tag every following log line (and the trace) with the upload being worked on."""
    logger.set_correlation_id(correlation_id)
    logger.append_keys(upload_id=upload_id)
    tracer.put_annotation(key="upload_id", value=upload_id)


def count(metric: str, value: int = 1) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)
