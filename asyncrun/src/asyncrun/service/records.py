"""The invocation record Lambda sends to a destination after the last attempt of an
asynchronous event (docs/async-semantics.md R3): exactly these keys, in this order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

Condition = Literal[
    "Success", "RetriesExhausted", "EventAgeExceeded", "ZeroReservedConcurrency", "RecursiveInvocationDropped"
]
# **unverified**: the condition of a record for an event stopped by recursive loop
# detection was not observed; the runner uses this word, named after the metric.
RECURSION_CONDITION: Condition = "RecursiveInvocationDropped"
UNHANDLED = "Unhandled"


def format_timestamp(epoch_seconds: float) -> str:
    """UTC ISO 8601 with exactly three fraction digits and `Z`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_payload(payload: bytes) -> Any:
    """An event payload as the record carries it: parsed JSON, not a string."""
    return json.loads(payload) if payload else {}


def build_record(
    *,
    timestamp: float,
    request_id: str,
    function_arn: str,
    condition: Condition,
    approximate_invoke_count: int,
    request_payload: bytes,
    executed_version: str | None = None,
    response_payload: bytes | None = None,
    function_error: str | None = None,
) -> dict[str, Any]:
    """`function_arn` must be qualified. `executed_version`/`response_payload` are None
    when the function never ran (zero concurrency, recursion): then the record has
    neither `responseContext` nor `responsePayload`."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": format_timestamp(timestamp),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": approximate_invoke_count,
        },
        "requestPayload": parse_payload(request_payload),
    }
    if executed_version is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            context["functionError"] = function_error
        record["responseContext"] = context
        # A handler returning None answers `null` (**unverified** for destinations).
        record["responsePayload"] = json.loads(response_payload) if response_payload else None
    return record


def record_json(record: dict[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as UTF-8, as the service serialises it."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def without_payloads(record: dict[str, Any]) -> dict[str, Any]:
    """An OnFailure record too large for SNS: Lambda drops the request and response
    payloads and keeps the rest."""
    return {k: v for k, v in record.items() if k not in ("requestPayload", "responsePayload")}


def function_error_payload(
    *, message: str, error_type: str, request_id: str, stack_trace: list[str]
) -> dict[str, Any]:
    """The error object the Python runtime reports for an unhandled exception."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def timeout_error_payload(request_id: str, timeout_seconds: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds",
    }
