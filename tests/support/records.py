"""Building invocation records the way Lambda does (docs/async-semantics.md R3), for tests
that chain one stage's result into the next without the runner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests.support.template import Template

# The invocation record's keys, in the order Lambda writes them.
RECORD_KEYS = [
    "version",
    "timestamp",
    "requestContext",
    "requestPayload",
    "responseContext",
    "responsePayload",
]


def alias_arn(template: Template, function_id: str) -> str:
    alias = template.function_property(function_id, "AutoPublishAlias")
    return (
        f"arn:aws:lambda:{template.region}:{template.account_id}:function:"
        f"{template.physical_name(function_id)}:{alias}"
    )


def lambda_timestamp(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def success_record(
    template: Template,
    function_id: str,
    request_payload: Any,
    response_payload: Any,
    *,
    request_id: str | None = None,
    timestamp: str | None = None,
    approximate_invoke_count: int = 1,
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "timestamp": timestamp or lambda_timestamp(),
        "requestContext": {
            "requestId": request_id or str(uuid.uuid4()),
            "functionArn": alias_arn(template, function_id),
            "condition": "Success",
            "approximateInvokeCount": approximate_invoke_count,
        },
        "requestPayload": request_payload,
        "responseContext": {"statusCode": 200, "executedVersion": "1"},
        "responsePayload": response_payload,
    }
