"""The Lambda Destinations walkthrough, command for command, with the AWS CLI against
`asyncrun serve`: configure destinations on the tester function, invoke it
asynchronously, and read the invocation records where AWS would deliver them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

from tests.runner.api.conftest import REGION, Serve

pytestmark = pytest.mark.server

AWS = Path(sys.executable).with_name("aws")


def aws_cli(serve: Serve, *args: str, cwd: Path) -> dict[str, Any]:
    """One AWS CLI command against serve; its JSON output (empty dict for none)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [str(AWS), "--endpoint-url", serve.url, "--region", REGION, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}


def raw_payload_options() -> list[str]:
    """AWS CLI v2 needs `--cli-binary-format raw-in-base64-out` to send `--payload` as
    it is; v1 (the venv's) sends it as it is already and rejects the option."""
    try:
        major = int(version("awscli").split(".")[0])
    except PackageNotFoundError:
        major = 2  # an aws on PATH that is not the venv's package: v2
    return ["--cli-binary-format", "raw-in-base64-out"] if major >= 2 else []


def test_walkthrough_commands_deliver_success_to_the_queue_and_failure_through_the_topic(
    serve: Serve, tester: str, destinations: dict[str, str], tmp_path: Path
) -> None:
    destination_config = json.dumps(
        {
            "OnSuccess": {"Destination": destinations["queue"]},
            "OnFailure": {"Destination": destinations["topic"]},
        }
    )

    # Given destinations configured as in the walkthrough, with no retries
    put = aws_cli(
        serve,
        "lambda",
        "put-function-event-invoke-config",
        "--function-name",
        tester,
        "--maximum-retry-attempts",
        "0",
        "--destination-config",
        destination_config,
        cwd=tmp_path,
    )
    assert put["FunctionArn"] == f"{serve.stack.functions['DestinationTesterFunction'].arn}:$LATEST"
    assert put["MaximumRetryAttempts"] == 0
    assert put["DestinationConfig"]["OnSuccess"] == {"Destination": destinations["queue"]}

    # ... then the maximum event age changed, the rest kept
    updated = aws_cli(
        serve,
        "lambda",
        "update-function-event-invoke-config",
        "--function-name",
        tester,
        "--maximum-event-age-in-seconds",
        "3600",
        cwd=tmp_path,
    )
    assert updated["MaximumEventAgeInSeconds"] == 3600
    assert updated["MaximumRetryAttempts"] == 0
    assert updated["DestinationConfig"] == put["DestinationConfig"]
    got = aws_cli(
        serve, "lambda", "get-function-event-invoke-config", "--function-name", tester, cwd=tmp_path
    )
    assert got == updated
    listed = aws_cli(
        serve, "lambda", "list-function-event-invoke-configs", "--function-name", tester, cwd=tmp_path
    )
    assert listed["FunctionEventInvokeConfigs"] == [updated]

    # When the function is invoked asynchronously, once to succeed and once to fail
    answers = [
        aws_cli(
            serve,
            "lambda",
            "invoke",
            "--function-name",
            tester,
            "--invocation-type",
            "Event",
            *raw_payload_options(),
            "--payload",
            payload,
            "response.json",
            cwd=tmp_path,
        )
        for payload in ('{ "Success": true }', '{ "Success": false }')
    ]
    serve.drain()

    # Then each call was accepted with 202 and an empty response
    assert answers == [{"StatusCode": 202}, {"StatusCode": 202}]
    assert (tmp_path / "response.json").read_bytes() == b""
    # ... the success record is in the queue
    success = serve.receive("SuccessQueue", expected=2)
    assert len(success) == 1
    record = success[0]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"Success": True}
    assert record["responsePayload"]["result"] == "success"
    # ... and the failure record came through the topic, after one attempt
    failure = serve.receive("FailureInbox", expected=2)
    assert len(failure) == 1
    notification = failure[0]
    assert notification["TopicArn"] == destinations["topic"]
    failed = json.loads(notification["Message"])
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 1
    assert failed["requestPayload"] == {"Success": False}
    assert failed["responseContext"]["functionError"] == "Unhandled"
    assert failed["responsePayload"]["errorMessage"] == "Failure from event, Success = false, I am failing!"

    # When the configuration is deleted, Then it is gone
    aws_cli(serve, "lambda", "delete-function-event-invoke-config", "--function-name", tester, cwd=tmp_path)
    remaining = serve.client("lambda").list_function_event_invoke_configs(FunctionName=tester)
    assert remaining["FunctionEventInvokeConfigs"] == []
