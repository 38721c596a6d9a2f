"""Runs of the echo template's function through the engine, for the page to draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncrun.runtimes import default_executor
from asyncrun.service.engine import Engine
from asyncrun.service.faults import Fault
from asyncrun.service.trace import TraceEvent
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack
from asyncrun.stack.provision import provision
from asyncrun.stack.template import load_stack

ROOT = Path(__file__).resolve().parents[3]
ECHO = ROOT / "tests" / "runner" / "front" / "templates" / "echo.yaml"
CONFORMANCE = ROOT / "tests" / "runner" / "conformance" / "templates"


@dataclass
class RecordedRun:
    stack: Stack
    trace: list[TraceEvent]


Actions = Callable[[Engine, Endpoint, Stack], None]


def template_run(template: Path, act: Actions, *, faults: Sequence[Fault] = ()) -> RecordedRun:
    """A template provisioned in a fresh embedded moto, `act` done, the engine run until idle."""
    stack = load_stack(template, stack_name="timeline", region="us-east-1")
    with Endpoint(region=stack.region) as endpoint:
        provision(stack, endpoint)
        engine = Engine(stack, endpoint, faults=faults, seed=7, executor=default_executor(stack, endpoint))
        act(engine, endpoint, stack)
        engine.run_until_idle()
        return RecordedRun(stack, list(engine.trace))


def echo_run(*, failing: int, succeeding: int, uploads: int, throttled: int = 0) -> RecordedRun:
    """The echo template's function: invokes that fail every attempt (so OnFailure after
    two retries), invokes that succeed (OnSuccess), S3 uploads that notify it, and
    throttles backed off before an attempt runs."""

    def act(engine: Engine, endpoint: Endpoint, stack: Stack) -> None:
        for n in range(max(failing, succeeding)):
            if n < failing:
                engine.invoke_async("Echo", {"n": n, "fail": True})
            if n < succeeding:
                engine.invoke_async("Echo", {"n": n})
        s3 = endpoint.client("s3")
        for n in range(uploads):
            s3.put_object(Bucket=stack.buckets["Inbox"].name, Key=f"in/file {n}.csv", Body=b"a,b\n1,2\n")

    faults = [Fault("Echo", "throttle", 1.0, throttled)] if throttled else []
    return template_run(ECHO, act, faults=faults)
