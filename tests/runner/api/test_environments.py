"""`asyncrun serve` runs each function in an execution environment of its own, as
Lambda does (docs/async-semantics.md R12): seen through the Lambda API, S3, SQS and CloudWatch
Logs with boto3, against the embedded moto."""

from __future__ import annotations

import json
import time
import uuid
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncrun.api.serve_process import ServeProcess
from asyncrun.stack.template import load_stack
from tests.runner.api.conftest import REGION, Serve

TEMPLATE = Path(__file__).parent / "templates" / "environments.yaml"
ISOLATED = "environments-isolated"
NEIGHBOUR = "environments-neighbour"


@pytest.fixture(scope="module")
def serve_environments() -> Iterator[Serve]:
    stack = load_stack(TEMPLATE, stack_name="environments", region=REGION)
    process = ServeProcess(
        TEMPLATE, args=["--stack-name", "environments", "--region", REGION, "--virtual-clock"]
    )
    with process:
        yield Serve(process.url, stack, process)


@pytest.fixture
def lam(serve_environments: Serve) -> Any:
    return serve_environments.client("lambda")


def _invoke(lam: Any, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def test_a_print_shows_in_the_tail_and_in_cloudwatch_logs(serve_environments: Serve, lam: Any) -> None:
    response, body = _invoke(lam, ISOLATED, {"action": "print"})
    assert body == {"printed": True}
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = b64decode(response["LogResult"]).decode()
    assert tail.startswith(f"START RequestId: {request_id} Version: $LATEST\n")
    assert f"hello from {ISOLATED}\n" in tail
    assert f"END RequestId: {request_id}\n" in tail
    assert f"REPORT RequestId: {request_id}\tDuration: " in tail
    logs = serve_environments.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{ISOLATED}")["events"]
    messages = [event["message"] for event in events]
    assert f"START RequestId: {request_id} Version: $LATEST" in messages
    assert f"hello from {ISOLATED}" in messages


def test_decimal_returns_succeed(lam: Any) -> None:
    response, body = _invoke(lam, ISOLATED, {"action": "decimal"})
    assert "FunctionError" not in response
    assert body == {"price": 12.5, "quantity": 3.0, "name": "café"}


def test_a_response_over_6_mb_is_a_function_error(lam: Any) -> None:
    response, body = _invoke(lam, ISOLATED, {"action": "big", "bytes": 7 * 1024 * 1024})
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_a_write_after_the_deadline_never_lands(serve_environments: Serve, lam: Any) -> None:
    key = f"late/{uuid.uuid4()}"
    response, body = _invoke(lam, ISOLATED, {"action": "late_write", "seconds": 1.5, "key": key})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    time.sleep(1.0)
    listed = serve_environments.client("s3").list_objects_v2(Bucket="environments-writes", Prefix=key)
    assert listed.get("KeyCount", 0) == 0


def test_sys_exit_fails_the_attempts_and_serve_goes_on(serve_environments: Serve, lam: Any) -> None:
    lam.invoke(FunctionName=ISOLATED, InvocationType="Event", Payload=b'{"action": "exit"}')
    serve_environments.drain()
    [record] = serve_environments.receive("FailureQueue")
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert record["responsePayload"]["errorMessage"].endswith(
        "Error: Runtime exited with error: exit status 1"
    )
    assert _invoke(lam, ISOLATED, {"action": "counter"})[0]["StatusCode"] == 200


def test_an_over_memory_invocation_fails_as_out_of_memory(lam: Any) -> None:
    response, body = _invoke(lam, ISOLATED, {"action": "hog", "megabytes": 400})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"


def test_environment_changes_stay_in_their_function(lam: Any) -> None:
    _invoke(lam, ISOLATED, {"action": "setenv"})
    assert _invoke(lam, "environments-neighbour", {"action": "getenv"})[1] == {"value": None}


def test_a_functions_own_asynchronous_invoke_is_queued_by_serve(serve_environments: Serve, lam: Any) -> None:
    # A function invokes another asynchronously; the invoked event fails and is routed
    _, answer = _invoke(
        lam, ISOLATED, {"action": "invoke", "target": ISOLATED, "payload": {"action": "exit"}}
    )
    assert answer["status"] == 202
    serve_environments.drain()
    [record] = serve_environments.receive("FailureQueue")
    assert record["requestContext"]["requestId"] == answer["request_id"]
    assert record["requestPayload"] == {"action": "exit"}


def test_a_functions_own_event_invoke_config_is_the_engines(serve_environments: Serve, lam: Any) -> None:
    failures = serve_environments.stack.queues["FailureQueue"].arn
    config = {"MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": failures}}}
    # Given a function that configures its neighbour (no retries, failures to the queue)
    _, answer = _invoke(lam, ISOLATED, {"action": "configure", "target": NEIGHBOUR, "config": config})
    assert answer == {"retries": 0, "destinations": {"OnSuccess": {}, "OnFailure": {"Destination": failures}}}
    # When the neighbour fails an event, Then the engine applied that config: one attempt, routed
    lam.invoke(FunctionName=NEIGHBOUR, InvocationType="Event", Payload=b'{"action": "exit"}')
    serve_environments.drain()
    [record] = serve_environments.receive("FailureQueue")
    assert record["requestContext"]["functionArn"].split(":")[6] == NEIGHBOUR
    assert record["requestContext"]["approximateInvokeCount"] == 1
    lam.delete_function_event_invoke_config(FunctionName=NEIGHBOUR)


def test_an_event_invoke_answers_202_while_an_attempt_runs(serve_environments: Serve, lam: Any) -> None:
    # Given an event whose attempt sleeps, then writes its key
    key = f"slow-{uuid.uuid4()}"
    slow = {"action": "late_write", "seconds": 0.7, "key": key}
    first = lam.invoke(FunctionName=ISOLATED, InvocationType="Event", Payload=json.dumps(slow).encode())
    time.sleep(0.2)  # the runner, woken by the invoke, starts the attempt

    # When another event is invoked, Then its 202 comes before the running attempt wrote its key
    second = lam.invoke(FunctionName=ISOLATED, InvocationType="Event", Payload=b'{"action": "print"}')
    assert second["StatusCode"] == 202
    with pytest.raises(serve_environments.client("s3").exceptions.ClientError):
        serve_environments.client("s3").head_object(Bucket="environments-writes", Key=key)

    # And the trace shows it received while the first attempt ran
    serve_environments.drain()
    events = serve_environments.admin("trace")["events"]
    first_id, second_id = (r["ResponseMetadata"]["RequestId"] for r in (first, second))
    started = next(e["at"] for e in events if e["kind"] == "attempt_started" and e["request_id"] == first_id)
    finished = next(
        e["at"] for e in events if e["kind"] == "attempt_finished" and e["request_id"] == first_id
    )
    received = next(e["at"] for e in events if e["kind"] == "accepted" and e["request_id"] == second_id)
    assert started < received < finished
