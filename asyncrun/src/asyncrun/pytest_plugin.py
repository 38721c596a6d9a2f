"""asyncrun's pytest plugin, active once the package is installed (a `pytest11` entry
point): the `asyncrun_stack` fixture reads a SAM template, provisions it into an
embedded moto of the test's own (no socket is opened) and drives it with asyncrun's
engine on a virtual clock.

    def test_a_failed_event_reaches_on_failure(asyncrun_stack):
        stack = asyncrun_stack("template.yaml")
        stack.inject("OrderFunction", "error")
        request_id = stack.invoke_async("OrderFunction", {"order": 1})
        stack.run()
        stack.assert_condition(request_id, "RetriesExhausted")
        assert stack.failure_record(request_id)["requestPayload"] == {"order": 1}

The assertion helpers fail with the run's trace in the message, and a failed test that
used a stack gets the trace of each of its stacks as a report section.

Modules are imported late: the plugin is loaded by every pytest run in an environment
that has asyncrun, whether or not it uses the fixture, and moto and boto3 are heavy."""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from asyncrun.service.destinations import Delivery
    from asyncrun.service.engine import Engine, RunSummary
    from asyncrun.service.faults import AnyFault, Fault, FaultKind
    from asyncrun.service.metrics import Metrics
    from asyncrun.service.trace import AttemptFinished, TraceEvent
    from asyncrun.stack.call_faults import CallFault, CallFaultKind
    from asyncrun.stack.endpoint import ClientCache, Endpoint
    from asyncrun.stack.model import FunctionSpec, Stack

# An assertion message shows the end of a long trace only.
_MESSAGE_TRACE_LINES = 200
# What each delivery kind is called in a template and in the trace.
_DELIVERY_WORDS = {
    "on_success": "OnSuccess",
    "on_failure": "OnFailure",
    "dead_letter": "the dead-letter queue",
}


def format_trace(stack: Stack, events: Sequence[TraceEvent]) -> str:
    """The events as the command line's live trace shows them, without colours; time
    is counted from the first event."""
    from asyncrun.service.trace_text import LiveTrace

    if not events:
        return "  (nothing happened)"
    out = io.StringIO()
    live = LiveTrace(stack, out, colour=False)
    for event in events:
        live(event)
    live.flush()
    return out.getvalue().rstrip("\n")


@dataclass
class RunResult:
    """What one `run()` did: the trace events and deliveries it added."""

    trace: list[TraceEvent]
    deliveries: list[Delivery]
    summary: RunSummary

    def records(self, kind: str = "on_failure") -> list[Any]:
        """The bodies delivered as `kind` (`on_success`, `on_failure`, `dead_letter`) in this
        run, parsed where JSON."""
        return [_parsed(delivery.body) for delivery in self.deliveries if delivery.kind == kind]


@dataclass
class AsyncrunStack:
    """One template provisioned in the test's embedded moto, with the engine that runs
    its functions. Functions, buckets and queues are named by logical id, physical name
    or ARN."""

    stack: Stack
    endpoint: Endpoint
    engine: Engine
    _runs: list[RunResult] = field(default_factory=list, repr=False)

    # -------------------------------------------------------------- acting
    def invoke_async(
        self,
        function: str,
        payload: Any = None,
        qualifier: str | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        """`Invoke` with `InvocationType=Event`: the event is queued (nothing runs until
        `run()`); returns its request id. `payload` is bytes, text, or a value made JSON."""
        return self.engine.invoke_async(function, payload, qualifier=qualifier, request_id=request_id)

    def upload(self, bucket: str, key: str, body: bytes | str | Path) -> str | None:
        """Put an object (bytes, text, or the content of a file given as a `Path`); the
        bucket's notifications queue their events. Returns the version id on a versioned
        bucket."""
        data = (
            body.read_bytes() if isinstance(body, Path) else body.encode() if isinstance(body, str) else body
        )
        name = self._bucket(bucket).name
        response = self.client("s3").put_object(Bucket=name, Key=key, Body=data)
        version = response.get("VersionId")
        return None if version in (None, "null") else str(version)

    def inject(
        self,
        function: str,
        kind: FaultKind,
        probability: float = 1.0,
        times: int | None = None,
        *,
        match: str | None = None,
    ) -> Fault:
        """A fault, as `--fault FUNCTION:KIND[:PROBABILITY][:TIMES]` injects it: `error`,
        `timeout`, `crash`, `throttle` or `duplicate`; `match` limits it to payloads
        containing that text."""
        from asyncrun.service.faults import Fault

        self.function(function)  # an unknown function is a mistake in the test, not a fault that never fires
        fault = Fault(function, kind, probability, times, match)
        self.engine.faults.add(fault)
        return fault

    def inject_call_fault(
        self,
        function: str,
        service: str,
        kind: CallFaultKind,
        probability: float = 1.0,
        times: int | None = None,
        *,
        operation: str | None = None,
    ) -> CallFault:
        """A fault in the function's own AWS calls, as `--fault FUNCTION:aws:SERVICE[.OPERATION]:KIND`
        injects it: `throttle`, `unavailable` or `error`; `times` counts requests, the SDK's
        retries included."""
        from asyncrun.stack.call_faults import CallFault

        self.function(function)
        fault = CallFault(function, service, kind, operation, probability, times)
        self.engine.faults.add(fault)
        return fault

    def run(self, *, max_events: int | None = None) -> RunResult:
        """Run until nothing is queued, jumping the virtual clock over every wait."""
        trace_from, deliveries_from = len(self.engine.trace), len(self.engine.deliveries)
        summary = self.engine.run_until_idle(max_events=max_events)
        result = RunResult(
            list(self.engine.trace[trace_from:]), list(self.engine.deliveries[deliveries_from:]), summary
        )
        self._runs.append(result)
        return result

    # -------------------------------------------------------------- reading
    @property
    def trace(self) -> list[TraceEvent]:
        return self.engine.trace

    @property
    def deliveries(self) -> list[Delivery]:
        return self.engine.deliveries

    @property
    def metrics(self) -> Metrics:
        """The engine's counters, by physical function name; `metric()` takes any name."""
        return self.engine.metrics

    def metric(self, function: str, name: str) -> int:
        return self.engine.metrics.get(self.function(function).name, name)

    def client(self, service: str) -> Any:
        """A boto3 client on the stack's endpoint."""
        return self.endpoint.client(service)

    def function(self, reference: str) -> FunctionSpec:
        try:
            return self.stack.find_function(reference)[0]
        except KeyError:
            raise self._unknown("function", reference, self.stack.functions) from None

    def messages(self, queue: str, *, raw: bool = False) -> list[Any]:
        """The bodies of the messages now in the queue, parsed where JSON (as sent with
        `raw`), in arrival order; they are taken off the queue."""
        sqs = self.client("sqs")
        url = self._queue_url(queue)
        bodies: list[Any] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        ):
            bodies.extend(message["Body"] if raw else _parsed(message["Body"]) for message in batch)
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        return bodies

    def request_ids(self, function: str) -> list[str]:
        """The request id of each event the function accepted, in order (a duplicate
        delivery repeats its request id)."""
        name = self.function(function).name
        return [e.request_id for e in self.engine.trace if e.kind == "accepted" and e.function == name]

    def format_trace(self) -> str:
        return format_trace(self.stack, self.engine.trace)

    # -------------------------------------------------------------- the common questions
    def attempts(self, request_id: str) -> list[AttemptFinished]:
        """Every attempt of the request, throttled ones included, in order."""
        from asyncrun.service.trace import AttemptFinished

        return [e for e in self.engine.trace if isinstance(e, AttemptFinished) and e.request_id == request_id]

    def condition(self, request_id: str) -> str:
        """Why the request's event ended: `Success`, `RetriesExhausted`, `EventAgeExceeded`,
        `ZeroReservedConcurrency`, ..."""
        conditions = [
            e.condition
            for e in self.engine.trace
            if e.kind == "event_finished" and e.request_id == request_id
        ]
        if len(conditions) != 1:
            self.fail(
                f"request {request_id} ended {len(conditions)} times ({', '.join(conditions) or 'never'})"
            )
        return conditions[0]

    def record(self, request_id: str, kind: str = "on_failure") -> Any:
        """What was delivered as `kind` for the request: the invocation record for
        `on_success` and `on_failure`, the event itself for `dead_letter`. Exactly one
        delivery, successful, is expected."""
        found = [d for d in self.engine.deliveries if d.request_id == request_id and d.kind == kind]
        what = _DELIVERY_WORDS.get(kind, kind)
        if len(found) != 1:
            self.fail(f"expected one delivery to {what} for request {request_id}, found {len(found)}")
        if not found[0].ok:
            self.fail(f"the delivery to {what} for request {request_id} failed: {found[0].error}")
        return _parsed(found[0].body)

    def failure_record(self, request_id: str) -> Any:
        """The invocation record that reached OnFailure for the request."""
        return self.record(request_id, "on_failure")

    def success_record(self, request_id: str) -> Any:
        """The invocation record that reached OnSuccess for the request."""
        return self.record(request_id, "on_success")

    def assert_condition(self, request_id: str, expected: str) -> None:
        actual = self.condition(request_id)
        if actual != expected:
            self.fail(f"request {request_id} ended with {actual}, not {expected}")

    def assert_attempts(self, request_id: str, expected: int) -> None:
        """The number of attempts that ran the function (throttled ones never reached it),
        as the record's `approximateInvokeCount` counts them."""
        ran = [a for a in self.attempts(request_id) if a.outcome != "throttled"]
        if len(ran) != expected:
            outcomes = ", ".join(a.outcome for a in ran) or "none"
            self.fail(f"request {request_id} ran {len(ran)} times ({outcomes}), not {expected}")

    def fail(self, message: str) -> Any:
        lines = self.format_trace().splitlines()
        if len(lines) > _MESSAGE_TRACE_LINES:  # the report section of a failed test has them all
            omitted = len(lines) - _MESSAGE_TRACE_LINES
            lines = [f"  ... {omitted} earlier lines", *lines[-_MESSAGE_TRACE_LINES:]]
        trace = "\n".join(lines)
        raise AssertionError(f"{message}\n\nasyncrun trace of stack {self.stack.name}:\n{trace}")

    # -------------------------------------------------------------- names
    def _bucket(self, reference: str) -> Any:
        try:
            return self.stack.find_bucket(reference)
        except KeyError:
            raise self._unknown("bucket", reference, self.stack.buckets) from None

    def _queue_url(self, reference: str) -> str:
        try:
            return self.stack.find_queue(reference).url
        except KeyError:
            raise self._unknown("queue", reference, self.stack.queues) from None

    def _unknown(self, what: str, reference: str, logical_ids: Iterable[str]) -> AssertionError:
        """A name the stack does not have is a mistake in the test: say what it has."""
        known = ", ".join(logical_ids) or "none"
        return AssertionError(f"no {what} {reference!r} in stack {self.stack.name} ({what}s: {known})")


def _finds(stack: Stack, reference: str) -> bool:
    try:
        stack.find_function(reference)
    except KeyError:
        return False
    return True


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


# ---------------------------------------------------------------------- the fixture


class _Templates:
    """Templates read once per session: translating a SAM template costs far more than
    copying its result. A changed file (size or modification time) is read again."""

    def __init__(self) -> None:
        self._stacks: dict[tuple[object, ...], Stack] = {}

    def load(
        self,
        path: Path,
        overrides: Mapping[str, str],
        stack_name: str | None,
        region: str | None,
        config_env: str,
    ) -> Stack:
        from asyncrun.stack.template import load_stack

        path = Path(path).resolve()
        status = path.stat()
        file: tuple[object, ...] = (path, status.st_size, status.st_mtime_ns)
        key = (*file, tuple(sorted(overrides.items())), stack_name, region, config_env)
        if key not in self._stacks:
            self._stacks[key] = load_stack(
                path,
                parameter_overrides=dict(overrides),
                stack_name=stack_name,
                region=region,
                config_env=config_env,
            )
        return copy.deepcopy(self._stacks[key])


_STACKS = pytest.StashKey[list[AsyncrunStack]]()


@pytest.fixture(scope="session")
def _asyncrun_templates() -> _Templates:
    return _Templates()


@pytest.fixture(scope="session")
def _asyncrun_clients() -> ClientCache:
    """boto3 clients for every test's endpoints: a client costs about 0.1 s to create, a
    test's stack uses half a dozen, and a client keeps working across moto restarts."""
    return {}


StackFactory = Callable[..., AsyncrunStack]


@pytest.fixture
def asyncrun_stack(
    request: pytest.FixtureRequest, _asyncrun_templates: _Templates, _asyncrun_clients: ClientCache
) -> Iterator[StackFactory]:
    """`asyncrun_stack(template_path, parameter_overrides=None, *, stack_name=None,
    region=None, config_env="default", faults=(), seed=None, clock_start=None,
    endpoint_url=None, executor="process", max_environments=None)`: the template
    provisioned into the test's embedded moto, with an engine whose virtual clock starts
    at `clock_start` (a datetime or epoch seconds; now by default). `faults` are
    `Fault`s, `CallFault`s or `--fault` texts; `seed` fixes their draws. Several stacks
    in one test share its moto. With `endpoint_url` (a moto server, LocalStack) the stack
    goes there instead, and what it holds outlives the test. The functions run in
    execution environments of their own (OS processes that reach the embedded moto on
    loopback, closed after the test), at most `max_environments` per function version
    (default 8); `executor="thread"` runs them in the test's process instead, opening no
    socket but isolating nothing. The process environment is restored after the test."""
    from asyncrun.api.lambda_api import LambdaApi
    from asyncrun.runtimes import local_executor
    from asyncrun.service.clock import VirtualClock
    from asyncrun.service.engine import Engine
    from asyncrun.service.faults import parse_fault
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.provision import provision

    saved_environment = dict(os.environ)
    endpoints: dict[tuple[str | None, str], Endpoint] = {}
    stacks: list[AsyncrunStack] = []
    request.node.stash[_STACKS] = stacks

    def make(
        template_path: str | os.PathLike[str],
        parameter_overrides: Mapping[str, str] | None = None,
        *,
        stack_name: str | None = None,
        region: str | None = None,
        config_env: str = "default",
        faults: Sequence[AnyFault | str] = (),
        seed: int | None = None,
        clock_start: datetime | float | None = None,
        endpoint_url: str | None = None,
        executor: str = "process",
        max_environments: int | None = None,
    ) -> AsyncrunStack:
        stack = _asyncrun_templates.load(
            Path(template_path), parameter_overrides or {}, stack_name, region, config_env
        )
        endpoint = endpoints.get((endpoint_url, stack.region))
        if endpoint is None:
            endpoint = Endpoint(endpoint_url, region=stack.region, clients=_asyncrun_clients).start()
            endpoints[(endpoint_url, stack.region)] = endpoint
        parsed_faults = [parse_fault(f) if isinstance(f, str) else f for f in faults]
        for fault in parsed_faults:  # a fault that can never trigger is a typo in the test
            if not _finds(stack, fault.function):
                known = ", ".join(stack.functions) or "none"
                raise AssertionError(
                    f"fault: no function {fault.function!r} in stack {stack.name} (functions: {known})"
                )
        provision(stack, endpoint)
        start = clock_start.timestamp() if isinstance(clock_start, datetime) else clock_start
        engine = Engine(
            stack,
            endpoint,
            clock=VirtualClock(start),
            faults=parsed_faults,
            seed=seed,
            executor=local_executor(executor, stack, endpoint, max_environments=max_environments),
        )
        LambdaApi(stack, engine, lock=engine.lock).answer_functions()
        driven = AsyncrunStack(stack, endpoint, engine)
        stacks.append(driven)
        return driven

    try:
        yield make
    finally:
        for driven in stacks:  # the next test starts with cold execution environments
            driven.engine.executor.close()
        # The last one started stops the mock: moto keeps one state for nested mocks.
        for endpoint in reversed(list(endpoints.values())):
            endpoint.stop()
        os.environ.clear()
        os.environ.update(saved_environment)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that drove stacks shows what they did."""
    report = yield
    if report.failed and report.when == "call":
        for driven in item.stash.get(_STACKS, []):
            report.sections.append((f"asyncrun trace of stack {driven.stack.name}", driven.format_trace()))
    return report
