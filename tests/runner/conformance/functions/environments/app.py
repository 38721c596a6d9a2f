"""A function for the execution-environment rules (docs/async-semantics.md R12), its behaviour
chosen by the event: {"action": "late_write" | "decimal" | "big" | "print" | "setenv" |
"getenv" | "exit" | "os_exit" | "segfault" | "hog" | "counter" | "invoke" | "invoke_sync" |
"loop" | "configure"}."""

import ctypes
import decimal
import json
import logging
import os
import sys
import time

import boto3

_count = 0  # module state: kept while the environment stays warm
logger = logging.getLogger("environments")


def lambda_handler(event, context):
    global _count
    action = event.get("action")
    if action == "late_write":
        # Sleeps past the function's Timeout, then writes: on Lambda the write never happens.
        time.sleep(float(event["seconds"]))
        boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=event["key"], Body=b"late")
        return {"wrote": event["key"]}
    if action == "decimal":
        # What DynamoDB's resource API returns for numbers
        return {"price": decimal.Decimal("12.50"), "quantity": decimal.Decimal("3"), "name": "café"}
    if action == "big":
        return {"blob": "x" * int(event["bytes"])}
    if action == "print":
        print(f"hello from {context.function_name}")
        logger.warning("a warning with %s", "arguments")
        return {"printed": True}
    if action == "setenv":
        os.environ["SET_BY_ONE_FUNCTION"] = context.function_name
        return {"set": True}
    if action == "getenv":
        return {"value": os.environ.get("SET_BY_ONE_FUNCTION")}
    if action == "exit":
        sys.exit(1)
    if action == "os_exit":
        os._exit(0)
    if action == "segfault":
        ctypes.string_at(0)
    if action == "hog":
        hog = bytearray(int(event["megabytes"]) * 1024 * 1024)
        for at in range(0, len(hog), 4096):  # touched, so it is resident
            hog[at] = 1
        return {"held": len(hog)}
    if action == "invoke":
        # An asynchronous invoke of another function, as a handler makes it with boto3
        answer = boto3.client("lambda").invoke(
            FunctionName=event["target"],
            InvocationType="Event",
            Payload=json.dumps(event["payload"]).encode(),
        )
        return {"status": answer["StatusCode"], "request_id": answer["ResponseMetadata"]["RequestId"]}
    if action == "invoke_sync":
        # A synchronous invoke of another function: its answer, as boto3 gives it
        answer = boto3.client("lambda").invoke(
            FunctionName=event["target"], Payload=json.dumps(event["payload"]).encode()
        )
        return {
            "status": answer["StatusCode"],
            "function_error": answer.get("FunctionError"),
            "executed_version": answer.get("ExecutedVersion"),
            "payload": json.loads(answer["Payload"].read()),
        }
    if action == "loop":
        # Invokes itself with the same event, asynchronously: a loop through the SDK
        boto3.client("lambda").invoke(
            FunctionName=context.function_name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        return {"looped": event.get("chain")}
    if action == "configure":
        # Sets another function's event-invoke config, then reads it back
        lam = boto3.client("lambda")
        lam.put_function_event_invoke_config(FunctionName=event["target"], **event["config"])
        config = lam.get_function_event_invoke_config(FunctionName=event["target"])
        return {"retries": config["MaximumRetryAttempts"], "destinations": config["DestinationConfig"]}
    if action == "counter":
        _count += 1
        return {"count": _count}
    return {"echo": event}
