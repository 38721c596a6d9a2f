"""The parts of `asyncrun serve` that need no running server: function references,
request routing, the stand-in stack's outputs, the clocks, the admin paths' guards,
the queue runner and the forwarding backend."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import pytest

from asyncrun.api.lambda_api import ApiRequest, LambdaApi
from asyncrun.api.serve import (
    AdminApi,
    ForwardingBackend,
    QueueRunner,
    SkippableClock,
    _is_lambda_request,
    _public_value,
)
from asyncrun.errors import InvalidParameterValueError, LambdaServiceError, ResourceNotFoundError
from asyncrun.stack.model import Stack


@pytest.fixture
def api(walkthrough_stack: Stack) -> LambdaApi:
    # resolve() never reaches the engine
    return LambdaApi(walkthrough_stack, engine=None, lock=threading.RLock())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reference", "qualifier", "expected"),
    [
        ("destination-tester", None, None),
        ("destination-tester:live", None, "live"),
        ("destination-tester", "$LATEST", "$LATEST"),
        ("arn:aws:lambda:us-east-1:123456789012:function:destination-tester:1", None, "1"),
        ("123456789012:function:destination-tester", "live", "live"),
    ],
)
def test_every_form_of_function_reference_resolves(
    api: LambdaApi, reference: str, qualifier: str | None, expected: str | None
) -> None:
    ref = api.resolve(reference, qualifier)

    assert ref.spec.logical_id == "DestinationTesterFunction"
    assert ref.qualifier == expected


def test_a_reference_to_another_region_is_not_reachable(api: LambdaApi) -> None:
    with pytest.raises(LambdaServiceError) as caught:
        api.resolve("arn:aws:lambda:eu-west-1:123456789012:function:destination-tester")

    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.message == "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"


def test_a_malformed_reference_fails_validation_with_the_model_pattern(api: LambdaApi) -> None:
    with pytest.raises(LambdaServiceError) as caught:
        api.resolve("not a function!")

    assert caught.value.code == "ValidationException"
    assert "at 'functionName' failed to satisfy constraint" in caught.value.message


def test_an_error_body_names_its_message_member_as_the_model_does() -> None:
    not_found = ResourceNotFoundError("gone")
    invalid = InvalidParameterValueError("bad")

    assert not_found.body() == {"Type": "User", "Message": "gone"}
    assert invalid.body() == {"Type": "User", "message": "bad"}


def test_an_unknown_lambda_path_is_left_to_moto(api: LambdaApi) -> None:
    request = ApiRequest("GET", "/2015-03-31/functions/destination-tester/policy", {}, {})

    assert api.handle(request) is None


@pytest.mark.parametrize(
    ("path", "authorization", "expected"),
    [
        ("/2015-03-31/functions/f/invocations", "", True),
        (
            "/2015-03-31/functions/f/invocations",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host",
            True,
        ),
        (
            "/2015-03-31/functions/f",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request, SignedHeaders=host",
            False,
        ),
        ("/my-bucket/2015-03-31/functions", "", False),
    ],
)
def test_only_lambda_signed_or_unsigned_lambda_paths_are_lambda_requests(
    path: str, authorization: str, expected: bool
) -> None:
    environ = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    assert _is_lambda_request(environ, path) is expected


def test_queue_urls_in_outputs_point_at_the_endpoint(walkthrough_stack: Stack) -> None:
    queue = walkthrough_stack.queues["SuccessQueue"]
    canonical = walkthrough_stack.outputs["SuccessQueueUrl"]

    assert _public_value(walkthrough_stack, canonical, "http://127.0.0.1:3001") == (
        f"http://127.0.0.1:3001/{walkthrough_stack.account_id}/{queue.name}"
    )
    assert _public_value(walkthrough_stack, canonical, None) == canonical
    assert _public_value(walkthrough_stack, queue.arn, "http://127.0.0.1:3001") == queue.arn


def test_the_skippable_clock_moves_forward_only() -> None:
    clock = SkippableClock()
    start = clock.now()

    clock.sleep(60)
    clock.advance_to(start)  # in the past: nothing happens
    clock.elapsed(30)  # real time already passed: nothing to add

    assert 60 <= clock.now() - start < 70


@dataclass
class FakeEngine:
    """Due work as a count; records what the server asked of it."""

    due: int = 0
    steps: int = 0
    taken: int = 0  # each step here takes an event from the queue
    drained: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def step(self) -> bool:
        if self.due == 0:
            self.done.set()
            return False
        self.due -= 1
        self.steps += 1
        self.taken += 1
        return True

    def next_due(self) -> float | None:
        return None

    def run_due(self) -> None:
        while self.step():
            pass

    def run_until_idle(self) -> Any:
        self.drained = True
        return None


def test_advance_and_drain_need_the_virtual_clock() -> None:
    engine = FakeEngine()
    admin = AdminApi(engine, threading.RLock(), SkippableClock(), virtual=False)  # type: ignore[arg-type]

    advance = admin.handle("POST", "/_asyncrun/advance", {}, b'{"seconds": 60}')
    drain = admin.handle("POST", "/_asyncrun/drain", {}, b"")

    assert (advance.status, drain.status) == (409, 409)
    assert "--virtual-clock" in json.loads(drain.body)["message"]
    assert not engine.drained


def test_advance_runs_what_falls_due_before_answering() -> None:
    engine = FakeEngine(due=3)
    clock = SkippableClock()
    admin = AdminApi(engine, threading.RLock(), clock, virtual=True)  # type: ignore[arg-type]
    before = clock.now()

    answer = admin.handle("POST", "/_asyncrun/advance", {}, b'{"seconds": 120}')

    assert answer.status == 200
    assert json.loads(answer.body)["processed"] == 3
    assert clock.now() - before >= 120


def test_the_runner_works_through_due_work_when_woken() -> None:
    engine = FakeEngine()
    runner = QueueRunner(engine, threading.RLock(), SkippableClock(), poll=30)  # type: ignore[arg-type]
    runner.start()
    try:
        assert engine.done.wait(10)  # idle
        engine.done.clear()
        engine.due = 2

        runner.wake()

        assert engine.done.wait(10)
        assert engine.steps == 2
    finally:
        runner.stop()


# ---------------------------------------------------------------------- forwarding
@pytest.fixture
def echo_server() -> Iterator[str]:
    """A loopback HTTP server that answers with what it received."""

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            answer = json.dumps(
                {"path": self.path, "body": body.decode(), "target": self.headers.get("X-Amz-Target")}
            ).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.server
def test_the_forwarding_backend_relays_request_and_answer(echo_server: str) -> None:
    backend = ForwardingBackend(echo_server)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/some/path",
        "QUERY_STRING": "a=1",
        "CONTENT_LENGTH": "5",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "HTTP_X_AMZ_TARGET": "AmazonSQS.ListQueues",
        "HTTP_HOST": "127.0.0.1:3001",
        "wsgi.input": BytesIO(b"hello"),
    }
    started: list[Any] = []

    body = b"".join(backend(environ, lambda status, headers: started.append((status, headers))))

    assert started[0][0].startswith("201")
    assert json.loads(body) == {"path": "/some/path?a=1", "body": "hello", "target": "AmazonSQS.ListQueues"}
