"""A function whose behaviour the event chooses, so one folder serves every
conformance case: {"action": "raise" | "return_none" | "unserialisable" | "sleep" |
"fail_times" | "exit" | "context" | "counter"}; anything else echoes the event."""

import os
import sys
import time

import boto3
from counterlib import bump

_s3 = None  # created on first use, then kept warm


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
    if action == "print":
        print(f"printed {event.get('marker')}")
        return {"printed": True}
    if action == "unserialisable":
        return {"tags": {"a", "b"}}
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        # The process tells execution environments apart
        return {"slept": event["seconds"], "environment": os.getpid()}
    if action == "fail_times":
        # Counted in the bucket, per event key: a module global would only count within
        # one execution environment, and Lambda may run each attempt in another.
        seen = _count_attempt(str(event["key"]))
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


def _count_attempt(key: str) -> int:
    global _s3
    _s3 = _s3 or boto3.client("s3")
    bucket, name = os.environ["COUNTER_BUCKET"], f"attempts/{key}"
    try:
        seen = int(_s3.get_object(Bucket=bucket, Key=name)["Body"].read()) + 1
    except _s3.exceptions.NoSuchKey:
        seen = 1
    _s3.put_object(Bucket=bucket, Key=name, Body=str(seen).encode())
    return seen
