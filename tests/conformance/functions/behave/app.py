"""A function whose behaviour the event chooses, so one folder serves every
conformance case: {"action": "raise" | "return_none" | "unserialisable" | "sleep" |
"fail_times" | "exit" | "context" | "counter"}; anything else echoes the event."""

import os
import sys
import time

from counterlib import bump

_attempts: dict[str, int] = {}  # request id -> attempts seen by this execution environment


class OrderRejected(Exception):
    pass


def lambda_handler(event, context):
    if isinstance(event, dict) and "requestContext" in event:
        # An invocation record from a Lambda destination: answer small, so chains stay small
        return {"relayed": event["requestContext"]["requestId"]}
    action = event.get("action") if isinstance(event, dict) else None
    if action == "raise":
        raise OrderRejected(event.get("message", "rejected"))
    if action == "return_none":
        return None
    if action == "unserialisable":
        return {"tags": {"a", "b"}}
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        return {"slept": event["seconds"]}
    if action == "fail_times":
        seen = _attempts[context.aws_request_id] = _attempts.get(context.aws_request_id, 0) + 1
        if seen <= int(event["times"]):
            raise RuntimeError(f"attempt {seen} fails")
        return {"succeeded_on_attempt": seen}
    if action == "exit":
        sys.exit(3)
    if action == "context":
        names = (
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_EXECUTION_ENV",
            "TZ",
            "AWS_SAM_LOCAL",
            "GREETING",
            "_HANDLER",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        )
        return {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "env": {name: os.environ.get(name) for name in names},
        }
    if action == "counter":
        return {"count": bump()}
    return {"echo": event}
