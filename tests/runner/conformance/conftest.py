"""The conformance harness: each test loads one of the small SAM templates beside it
with the front's `load_stack`, provisions it, starts an `Engine`, and reads results
from the destinations themselves. Every test runs against the embedded moto and
against a moto server on loopback through `--endpoint-url` (marked `server`), with
the in-process executor; and, when a container engine answers, with the functions in
Lambda runtime containers (`sam local start-lambda`, marked `containers`) against a
moto container they can reach. A test that cannot run in containers by nature is
marked `in_process_only` with the reason."""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asyncrun.runtimes.containers import MotoContainer, SamLocalExecutor, engine_problem
from asyncrun.runtimes.environments import ProcessExecutor
from asyncrun.runtimes.inprocess import ThreadExecutor
from asyncrun.service.clock import Clock
from asyncrun.service.concurrency import DEFAULT_ACCOUNT_CONCURRENCY
from asyncrun.service.engine import Engine
from asyncrun.service.executor import Executor
from asyncrun.service.faults import Fault
from asyncrun.stack.endpoint import ClientCache, Endpoint
from asyncrun.stack.model import FunctionSpec, Stack
from asyncrun.stack.provision import provision
from asyncrun.stack.template import load_stack
from tests.support.contract import watch
from tests.support.sockets import loopback_only

TEMPLATES = Path(__file__).parent / "templates"
STACK_NAME = "conf"
REGION = "us-east-1"

_stacks: dict[str, Stack] = {}
# Shared by every endpoint of the session: creating a client costs about 0.1 s, which
# would otherwise be paid by every test for every service.
_clients: ClientCache = {}

BACKENDS = ("embedded", "server", "sam-local")  # in the order they run (see _Backends)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "in_process_only(reason): the test cannot run with functions in containers"
    )


_engine_problem: list[str | None] = []


def _sam_local_skip() -> pytest.MarkDecorator:
    if not _engine_problem:
        _engine_problem.append(engine_problem())
    problem = _engine_problem[0]
    return pytest.mark.skipif(problem is not None, reason=f"functions in containers: {problem}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    params = [
        pytest.param("embedded", id="embedded"),
        pytest.param("server", marks=pytest.mark.server, id="server"),
    ]
    if metafunc.definition.get_closest_marker("in_process_only") is None:
        params.append(
            pytest.param("sam-local", marks=[pytest.mark.containers, _sam_local_skip()], id="sam-local")
        )
    metafunc.parametrize("backend", params, indirect=True)


def _backend_of(item: pytest.Item) -> int:
    callspec = getattr(item, "callspec", None)
    kind = callspec.params.get("backend", "embedded") if callspec is not None else "embedded"
    return BACKENDS.index(kind)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if item.path.is_relative_to(here)]
    for item in ours:
        item.add_marker(pytest.mark.conformance)
    # Embedded first, then server, then containers: one endpoint switch each (see _Backends).
    ordered = sorted(ours, key=_backend_of)
    slots = iter(ordered)
    items[:] = [next(slots) if item.path.is_relative_to(here) else item for item in items]


def stack_of(template: str) -> Stack:
    """A fresh copy of the template's resolved stack (translated once per session)."""
    if template not in _stacks:
        _stacks[template] = load_stack(TEMPLATES / f"{template}.yaml", stack_name=STACK_NAME, region=REGION)
    return copy.deepcopy(_stacks[template])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto import backends
    from moto.server import ThreadedMotoServer

    # The server lists moto's package folder on every request to route it; the
    # folder does not change while the suite runs.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def moto_container() -> Iterator[MotoContainer]:
    """moto in a container on the functions' network: the sam-local backend's endpoint."""
    with MotoContainer() as moto:
        yield moto


class _Backends:
    """One endpoint at a time for the whole conformance package, each template
    provisioned once per endpoint and cleaned between tests: provisioning a template
    costs tens of calls, cleaning it a handful. Tests run embedded first, then
    server (see `pytest_collection_modifyitems`), so there is one switch; at the
    switch the embedded moto is stopped, so no server test can reach it by mistake."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.endpoint: Endpoint | None = None
        self.provisioned: dict[str, Stack] = {}
        # sam-local: one start-lambda per template, started at its first use
        self.moto: MotoContainer | None = None
        self.executors: dict[str, SamLocalExecutor] = {}
        self.processes: ProcessExecutor | None = None

    def use(self, kind: str, server_url: Callable[[], str], moto: Callable[[], MotoContainer]) -> Endpoint:
        if kind != self.kind or self.endpoint is None:
            self.close()
            if kind == "sam-local":
                self.moto = moto()
                self.endpoint = Endpoint(url=self.moto.host_url, region=REGION, clients=_clients).start()
            elif kind == "server":
                url = server_url()
                reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
                with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - loopback only
                    pass
                self.endpoint = Endpoint(url=url, region=REGION, clients=_clients).start()
            else:
                self.endpoint = Endpoint(region=REGION, clients=_clients).start()
            self.kind = kind
        return self.endpoint

    def stack(self, template: str) -> Stack:
        """A provisioned, clean copy of the template's stack."""
        assert self.endpoint is not None
        stack = self.provisioned.get(template)
        if stack is None:
            stack = stack_of(template)
            provision(stack, self.endpoint)
            self.provisioned[template] = stack
        else:
            self._clean(stack)
        return copy.deepcopy(stack)

    def _clean(self, stack: Stack) -> None:
        assert self.endpoint is not None
        s3 = self.endpoint.client("s3")
        for bucket in stack.buckets.values():
            versions = s3.list_object_versions(Bucket=bucket.name)
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket.name, Delete={"Objects": doomed, "Quiet": True})
        # every queue, the S3 bridge's included (PurgeQueue is allowed once a minute)
        sqs = self.endpoint.client("sqs")
        for url in sqs.list_queues().get("QueueUrls", []):
            while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def executor(self, template: str) -> SamLocalExecutor | ProcessExecutor:
        """The template's start-lambda on the sam-local backend; otherwise the backend's
        execution environments, shared by its tests as warm containers are (an
        environment is made again when its function's definition differs)."""
        if self.kind != "sam-local":
            assert self.endpoint is not None
            if self.processes is None:
                self.processes = ProcessExecutor(self.endpoint, region=REGION)
            return self.processes
        assert self.moto is not None
        if template not in self.executors:
            moto = self.moto
            executor = SamLocalExecutor(
                stack_of(template), endpoint_url=moto.host_url, function_endpoint_url=moto.container_url
            )
            self.executors[template] = executor.start()
        return self.executors[template]

    def close(self) -> None:
        for executor in self.executors.values():
            executor.close()
        if self.processes is not None:
            self.processes.close()
            self.processes = None
        if self.endpoint is not None:
            self.endpoint.stop()
        self.endpoint, self.kind, self.provisioned, self.moto, self.executors = None, None, {}, None, {}


@pytest.fixture(scope="package")
def _backends() -> Iterator[_Backends]:
    backends = _Backends()
    yield backends
    backends.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest, _backends: _Backends) -> _Backends:
    """Parametrized by `pytest_generate_tests`: embedded, server, sam-local."""
    if request.param == "embedded":
        loopback_only()  # the functions' processes reach the embedded moto on loopback
    else:
        request.getfixturevalue("socket_enabled")
    _backends.use(
        request.param,
        lambda: request.getfixturevalue("moto_server"),
        lambda: request.getfixturevalue("moto_container"),
    )
    return _backends


@pytest.fixture
def endpoint(backend: _Backends) -> Endpoint:
    assert backend.endpoint is not None
    return backend.endpoint


@dataclass
class Harness:
    stack: Stack
    endpoint: Endpoint
    engine: Engine
    executor: str  # "process", "thread" or "sam-local"

    def function(self, logical_id: str) -> FunctionSpec:
        return self.stack.functions[logical_id]

    def name(self, logical_id: str) -> str:
        return self.stack.functions[logical_id].name

    def queue_url(self, logical_id: str) -> str:
        name = self.stack.queues[logical_id].name
        return str(self.endpoint.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def messages(self, queue_logical_id: str) -> list[dict[str, Any]]:
        """Every message now in the queue (received and deleted), in arrival order."""
        sqs = self.endpoint.client("sqs")
        url = self.queue_url(queue_logical_id)
        out: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            out.extend(batch)

    def bodies(self, queue_logical_id: str) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.messages(queue_logical_id)]

    def one_body(self, queue_logical_id: str) -> dict[str, Any]:
        bodies = self.bodies(queue_logical_id)
        assert len(bodies) == 1, f"expected one message in {queue_logical_id}, got {len(bodies)}: {bodies}"
        return bodies[0]

    def metric(self, logical_id: str, name: str) -> int:
        return self.engine.metrics.get(self.name(logical_id), name)

    def run(self) -> None:
        self.engine.run_until_idle()

    def attempt_starts(self, request_id: str) -> list[float]:
        return [e.at for e in self.engine.trace if e.kind == "attempt_started" and e.request_id == request_id]


@pytest.fixture
def harness(backend: _Backends) -> Callable[..., Harness]:
    def make(
        template: str,
        *,
        faults: tuple[Fault, ...] = (),
        clock: Clock | None = None,
        seed: int | None = None,
        edit: Callable[[Stack], None] | None = None,
        executor: Executor | None = None,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
    ) -> Harness:
        stack = backend.stack(template)
        if edit is not None:
            edit(stack)
        assert backend.endpoint is not None
        executor = executor or backend.executor(template)
        engine = watch(
            Engine(
                stack,
                backend.endpoint,
                faults=faults,
                clock=clock,
                seed=seed,
                executor=executor,
                account_concurrency=account_concurrency,
            )
        )
        kind = {SamLocalExecutor: "sam-local", ThreadExecutor: "thread"}.get(type(executor), "process")
        return Harness(stack, backend.endpoint, engine, kind)

    return make
