"""Logger, Tracer and Metrics, created once per process and shared by every module.

They are built at import because the handlers' decorators need them; building them
only reads POWERTOOLS_* variables. Tracing is off when POWERTOOLS_TRACE_DISABLED=true
(tests), outside Lambda, or under `sam local` (AWS_SAM_LOCAL=true): Powertools' own rule.

Powertools' Tracer imports the X-Ray SDK (and botocore's session machinery with it)
when it is built, even with tracing off: most of a handler's import time. So the real
Tracer is built only where it traces; elsewhere `tracer` is `Untraced`, which keeps
the same decorators and calls and does nothing."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.tracer import Tracer  # the X-Ray SDK loads when one is built


class Untraced:
    """The part of Tracer the functions use, for when tracing is off: the decorators
    take Tracer's options (`capture_response`, `capture_error`) and ignore them, used
    bare (`@tracer.capture_method`) or with options (`@tracer.capture_method(...)`)."""

    def capture_lambda_handler(self, handler: Callable[..., Any] | None = None, **options: Any) -> Any:
        return handler if handler is not None else _unchanged

    def capture_method(self, method: Callable[..., Any] | None = None, **options: Any) -> Any:
        return method if method is not None else _unchanged

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass


def _unchanged[F: Callable[..., Any]](function: F) -> F:
    return function


def tracing_enabled() -> bool:
    return not Tracer._is_tracer_disabled()


logger = Logger()
tracer: Tracer | Untraced = Tracer() if tracing_enabled() else Untraced()
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
