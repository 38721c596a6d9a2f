"""One `asyncrun serve` for the folder's tests: the walkthrough template, on a free
loopback port, with the virtual clock so a test can skip the queue's waits."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from asyncrun.api.serve_process import ServeProcess
from asyncrun.stack.model import Stack
from asyncrun.stack.template import load_stack

TEMPLATE = Path(__file__).parent / "templates" / "walkthrough.yaml"
STACK_NAME = "destinations-walkthrough"
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Serve:
    url: str
    stack: Stack
    process: ServeProcess

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, **CREDENTIALS)

    def admin(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST (with a body) or GET one of serve's /_asyncrun/ paths."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_asyncrun/{action}", data=data)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return dict(json.load(response))

    def drain(self) -> dict[str, Any]:
        """Run the queue until it is empty, skipping the waits."""
        return self.admin("drain", {})

    def queue_url(self, logical_id: str) -> str:
        return f"{self.url}/{self.stack.account_id}/{self.stack.queues[logical_id].name}"

    def receive(self, logical_id: str, *, expected: int = 1) -> list[dict[str, Any]]:
        """The bodies of the messages in a queue (parsed JSON), read until `expected`
        arrived or the queue has nothing more."""
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while len(bodies) < expected:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url(logical_id), MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.queue_url(logical_id), ReceiptHandle=message["ReceiptHandle"]
                )
        return bodies


@pytest.fixture(scope="session")
def walkthrough_stack() -> Stack:
    return load_stack(TEMPLATE, stack_name=STACK_NAME, region=REGION)


@pytest.fixture(scope="session")
def serve(walkthrough_stack: Stack) -> Iterator[Serve]:
    process = ServeProcess(TEMPLATE, args=["--stack-name", STACK_NAME, "--region", REGION, "--virtual-clock"])
    with process:
        yield Serve(process.url, walkthrough_stack, process)


@pytest.fixture
def tester(serve: Serve) -> Iterator[str]:
    """The tester function's name; whatever event-invoke config a test puts on it, on
    any qualifier, and whatever it leaves in the queues are gone afterwards."""
    spec = serve.stack.functions["DestinationTesterFunction"]
    yield spec.name
    serve.drain()
    client = serve.client("lambda")
    for config in client.list_function_event_invoke_configs(FunctionName=spec.name)[
        "FunctionEventInvokeConfigs"
    ]:
        client.delete_function_event_invoke_config(FunctionName=config["FunctionArn"])
    for logical_id in serve.stack.queues:  # emptied by reading: PurgeQueue works once a minute
        serve.receive(logical_id, expected=1_000)


@pytest.fixture
def destinations(serve: Serve) -> dict[str, str]:
    """The walkthrough's destination ARNs, from the template."""
    stack = serve.stack
    return {
        "queue": stack.queues["SuccessQueue"].arn,
        "topic": stack.topics["FailureTopic"].arn,
        "inbox": stack.queues["FailureInbox"].arn,
    }
