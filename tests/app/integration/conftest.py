"""The deployed stack the integration tests run against, found the way any client finds
a deployed stack: `describe_stacks(StackName=...)` and its `Outputs`.

Which stack, where:
- `PIPELINE_STACK_NAME` (default: samconfig.toml's stack name) in the account and
  region of the usual credential chain (`AWS_PROFILE`, `AWS_DEFAULT_REGION`, ...);
- `AWS_ENDPOINT_URL`: that endpoint instead (`asyncrun serve`, LocalStack);
- neither `AWS_ENDPOINT_URL` nor `PIPELINE_STACK_NAME` set, or `ASYNCRUN_SERVE=1`:
  the tests start `asyncrun serve --virtual-clock` with `template.yaml` on a free
  loopback port for the session, and run against it (`ASYNCRUN_SERVE=0` turns that off).

With no stack to find (no credentials, nothing at the endpoint) the tests are skipped
and say why. When the endpoint offers serve's admin path, the tests use it to skip the
queue's waits (retries 60 s and 120 s apart); against AWS they wait, within
`PIPELINE_WAIT_SECONDS` (default 180) and `PIPELINE_FAILURE_WAIT_SECONDS` (default 900)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from asyncrun.api.serve_process import ServeProcess
from asyncrun.stack.samconfig import read_samconfig

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

T = TypeVar("T")


def _stack_name_and_region() -> tuple[str, str]:
    config = read_samconfig(ROOT)
    name = os.environ.get("PIPELINE_STACK_NAME") or config.stack_name or "order-pipeline"
    region = (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or config.region or "us-east-1"
    )
    return name, region


def _start_serve() -> bool:
    choice = os.environ.get("ASYNCRUN_SERVE")
    if choice in ("0", "1"):
        return choice == "1" and not os.environ.get("AWS_ENDPOINT_URL")
    return not os.environ.get("AWS_ENDPOINT_URL") and not os.environ.get("PIPELINE_STACK_NAME")


@dataclass
class Deployment:
    """A deployed stack: its outputs and parameters, clients for its endpoint, and a
    bounded wait that skips the queue's waits when the endpoint can."""

    stack_name: str
    region: str
    endpoint_url: str | None
    outputs: dict[str, str]
    parameters: dict[str, str]
    credentials: dict[str, str] = field(default_factory=dict)
    can_skip_waits: bool = False

    def client(self, service: str) -> Any:
        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, **self.credentials
        )

    def skip_waits(self) -> None:
        """Run serve's queue until it is empty, jumping over retry delays."""
        if self.can_skip_waits and self.endpoint_url:
            _admin(self.endpoint_url, "drain", post=True)

    def wait_for(self, probe: Callable[[], T | None], *, seconds: float, what: str) -> T:
        """Call `probe` until it returns something, within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            self.skip_waits()
            found = probe()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {seconds:.0f} s")
            time.sleep(0.2 if self.can_skip_waits else 3.0)


def _admin(endpoint_url: str, action: str, *, post: bool = False) -> dict[str, Any] | None:
    """serve's admin path, or None when the endpoint has none."""
    request = urllib.request.Request(  # noqa: S310 - the endpoint the tests were given
        f"{endpoint_url.rstrip('/')}/_asyncrun/{action}", data=b"{}" if post else None
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return dict(json.load(response))
    except (urllib.error.URLError, ValueError, OSError):
        return None


def _find_stack(name: str, region: str, endpoint_url: str | None, credentials: dict[str, str]) -> Deployment:
    cloudformation = boto3.client(
        "cloudformation", region_name=region, endpoint_url=endpoint_url, **credentials
    )
    where = endpoint_url or f"AWS ({region})"
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except NoCredentialsError:
        pytest.skip(
            f"no stack to test: no AWS credentials to look up stack {name!r} (configure credentials, "
            "set AWS_ENDPOINT_URL, or ASYNCRUN_SERVE=1 to test against asyncrun serve)"
        )
    except ClientError as error:
        pytest.skip(
            f"no stack to test: stack {name!r} not found at {where}: {error.response['Error']['Message']}"
        )
    except BotoCoreError as error:
        pytest.skip(f"no stack to test: cannot reach {where}: {error}")
    status = _admin(endpoint_url, "status") if endpoint_url else None
    return Deployment(
        stack_name=name,
        region=region,
        endpoint_url=endpoint_url,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])},
        credentials=credentials,
        can_skip_waits=bool(status and status.get("virtual_clock")),
    )


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    name, region = _stack_name_and_region()
    if not _start_serve():
        endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
        has_credentials = boto3.Session().get_credentials() is not None
        credentials = LOCAL_CREDENTIALS if endpoint_url and not has_credentials else {}
        yield _find_stack(name, region, endpoint_url, credentials)
        return
    serve = ServeProcess(
        TEMPLATE,
        args=["--stack-name", name, "--region", region, "--virtual-clock", "--quiet"],
    )
    with serve:
        yield _find_stack(name, region, serve.url, LOCAL_CREDENTIALS)
