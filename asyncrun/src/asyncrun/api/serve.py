"""`asyncrun serve`: one local HTTP endpoint that answers the Lambda API with the real
asynchronous semantics (the engine's queue, retries, event age, destinations, DLQs)
and every other AWS API with the embedded moto, on the same port — so the AWS CLI,
boto3 and integration tests written for a deployed stack work unchanged.

Routing: Lambda paths that `asyncrun.api.lambda_api` implements go to it; everything else
(S3, SQS, SNS, DynamoDB, EventBridge, CloudFormation, the rest of Lambda) goes to
moto's WSGI application in this process, which shares its state with the engine's
`mock_aws` — or, with `--endpoint-url`, is forwarded to that endpoint.

A background thread runs the engine's queue; attempts run at once, each on a thread
of its own, as many as the functions' concurrency allows. The engine guards its own
state with a lock (shared here by the admin paths) that is never held while an
attempt's code runs.

Clocks: by default the queue runs on the real clock (a retry waits 60 s for real).
With `--virtual-clock` time still flows, but it can be moved forward through the
local admin paths, so a test skips the waits:

- `GET  /_asyncrun/status`   clock, next due time, pending events, metrics
- `POST /_asyncrun/advance`  body `{"seconds": 60}`: move the clock, run what is due
- `POST /_asyncrun/drain`    run until the queue is empty, skipping every wait
- `GET  /_asyncrun/trace`    the engine's trace events (`?since=N` skips the first N)
- `GET  /_asyncrun/`         the run's timeline, drawn live from the trace (asyncrun.api.timeline)

`advance` and `drain` answer 409 without `--virtual-clock`.

The stack is made findable as a deployed one would be: a stand-in CloudFormation
stack with the template's name, whose `Outputs` are the resolved outputs (queue URLs
pointing at this endpoint) and whose `Parameters` are the resolved parameters."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asyncrun.api.lambda_api import ApiRequest, ApiResponse, LambdaApi
from asyncrun.service.concurrency import DEFAULT_ACCOUNT_CONCURRENCY
from asyncrun.stack.model import Stack

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from asyncrun.service.clock import Clock
    from asyncrun.service.engine import Engine
    from asyncrun.service.trace import TraceEvent
    from asyncrun.stack.endpoint import Endpoint

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_asyncrun/"
DEFAULT_PORT = 3001
_LAMBDA_VERSIONS = ("/2015-03-31/functions", "/2019-09-25/functions")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers"}
    | {"transfer-encoding", "upgrade", "content-length", "host"}
)
_STATUS_TEXT = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 404: "Not Found"}


class SkippableClock:
    """Real time that can be moved forward. Waits pass in real time, as on the real
    clock, unless the admin path (or a drain) skips them; attempts take real time, so
    `elapsed` has nothing to add."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance_to(self, t: float) -> None:
        self._offset += max(0.0, t - self.now())

    def sleep(self, seconds: float) -> None:
        self._offset += max(0.0, seconds)

    def elapsed(self, seconds: float) -> None:
        """The time has already passed."""


class QueueRunner:
    """Runs the engine's due work in a background thread: whenever it is woken (an
    event was queued, a request reached moto) or the next event falls due."""

    def __init__(self, engine: Engine, lock: threading.RLock, clock: Clock, *, poll: float = 0.5) -> None:
        self._engine = engine
        self._lock = lock
        self._clock = clock
        self._poll = poll  # the S3 bridge is polled too: an upload is noticed within this
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="asyncrun-queue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the step: a wake during it is not lost
            try:
                with self._lock:
                    progressed = self._engine.step()
                    due = None if progressed else self._engine.next_due()
            except Exception:
                # One broken event must not stop the endpoint: log it and go on.
                log.exception("asyncrun serve: the queue runner failed on a unit of work")
                progressed, due = False, None
            if progressed:
                continue
            wait = self._poll if due is None else min(self._poll, max(0.01, due - self._clock.now()))
            self._wake.wait(wait)


class EmbeddedMoto:
    """moto's own server application, in this process: its backends are the ones the
    engine's `mock_aws` clients use. Its requests do not take the engine's lock: moto
    serves concurrent requests in its own server mode too, nothing here touches the
    engine (S3 notifications reach it through a queue the runner drains), and a
    long-polling ReceiveMessage must not stop the queue from delivering meanwhile."""

    def __init__(self) -> None:
        from asyncrun.stack.endpoint import moto_application

        self._app = moto_application()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._app(environ, start_response)


class ForwardingBackend:
    """Sends every request this endpoint does not answer itself to another endpoint
    (a moto server, LocalStack), unchanged but for the Host header."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--endpoint-url must be an http(s) URL, not {url!r}")
        self._parts = parts
        self._timeout = timeout

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        if "?" not in path and environ.get("QUERY_STRING"):
            path = f"{path}?{environ['QUERY_STRING']}"
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        connection_class = (
            http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self._parts.hostname or "", self._parts.port, timeout=self._timeout)
        try:
            connection.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            response_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            connection.close()
        response_headers.append(("Content-Length", str(len(data))))
        start_response(f"{response.status} {response.reason}", response_headers)
        return [data]


class AdminApi:
    """The local admin paths (see the module docstring)."""

    def __init__(self, engine: Engine, lock: threading.RLock, clock: Clock, *, virtual: bool) -> None:
        self._engine = engine
        self._lock = lock
        self._clock = clock
        self.virtual = virtual

    def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> ApiResponse:
        action = path[len(ADMIN_PREFIX) :].strip("/")
        routes: dict[tuple[str, str], Callable[[Mapping[str, str], bytes], ApiResponse]] = {
            ("GET", "status"): self.status,
            ("POST", "advance"): self.advance,
            ("POST", "drain"): self.drain,
            ("GET", "trace"): self.trace,
            ("GET", ""): self.timeline,
        }
        handler = routes.get((method, action))
        if handler is None:
            known = ", ".join(f"{m} {ADMIN_PREFIX}{a}" for m, a in routes)
            return ApiResponse.json(404, {"message": f"no admin path {method} {path}; known: {known}"})
        return handler(query, body)

    def status(self, query: Mapping[str, str], body: bytes) -> ApiResponse:
        with self._lock:
            return ApiResponse.json(
                200,
                {
                    "stack": self._engine.stack.name,
                    "virtual_clock": self.virtual,
                    "now": self._clock.now(),
                    "next_due": self._engine.next_due(),
                    "pending": self._engine.pending,
                    "metrics": self._engine.metrics.as_dict(),
                },
            )

    def advance(self, query: Mapping[str, str], body: bytes) -> ApiResponse:
        if not self.virtual:
            return _clock_conflict("advance")
        try:
            seconds = float(json.loads(body or b"{}").get("seconds", 0))
        except (ValueError, AttributeError):
            return ApiResponse.json(400, {"message": 'the body must be JSON like {"seconds": 60}'})
        if seconds < 0:
            return ApiResponse.json(400, {"message": "the clock only moves forward: seconds must be >= 0"})
        with self._lock:
            self._clock.sleep(seconds)
            taken = self._engine.taken
            # Everything now due runs before the answer: the caller sees its effects.
            self._engine.run_due()
            ran = self._engine.taken - taken  # events taken from the queue
            return ApiResponse.json(
                200, {"now": self._clock.now(), "processed": ran, "next_due": self._engine.next_due()}
            )

    def drain(self, query: Mapping[str, str], body: bytes) -> ApiResponse:
        if not self.virtual:
            return _clock_conflict("drain")
        with self._lock:
            summary = self._engine.run_until_idle()
            return ApiResponse.json(200, dataclasses.asdict(summary))

    def trace(self, query: Mapping[str, str], body: bytes) -> ApiResponse:
        since = int(query.get("since", "0") or 0)
        with self._lock:
            events = [json.loads(event.to_json()) for event in self._engine.trace[since:]]
        return ApiResponse.json(200, {"events": events, "next": since + len(events)})

    def timeline(self, query: Mapping[str, str], body: bytes) -> ApiResponse:
        from asyncrun.api.timeline import live_page

        page = live_page(self._engine.stack, f"{ADMIN_PREFIX}trace")
        return ApiResponse(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _clock_conflict(action: str) -> ApiResponse:
    return ApiResponse.json(
        409, {"message": f"{ADMIN_PREFIX}{action} needs a clock that can move: serve with --virtual-clock"}
    )


class ServeApp:
    """The WSGI application: admin paths, then the Lambda API, then the backend."""

    def __init__(
        self,
        lambda_api: LambdaApi,
        admin: AdminApi,
        backend: WSGIApplication,
        *,
        on_backend_request: Callable[[], None] = lambda: None,
    ) -> None:
        self.lambda_api = lambda_api
        self.admin = admin
        self.backend = backend
        self._on_backend_request = on_backend_request

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        from werkzeug.wrappers import Request

        request = Request(environ)
        path = request.path
        response: ApiResponse | None = None
        if path.startswith(ADMIN_PREFIX):
            response = self.admin.handle(request.method, path, request.args, request.get_data())
        elif _is_lambda_request(environ, path) and self.lambda_api.route(request.method, path) is not None:
            response = self.lambda_api.handle(
                ApiRequest(
                    request.method, path, request.args, _HeaderView(request.headers), request.get_data()
                )
            )
        if response is None:
            try:
                return self.backend(environ, start_response)
            finally:
                # An S3 upload may have queued a notification: let the runner look now.
                self._on_backend_request()
        reason = _STATUS_TEXT.get(response.status) or http.client.responses.get(response.status, "")
        status = f"{response.status} {reason}"
        headers = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
        start_response(status, headers)
        return [response.body]


class _HeaderView(Mapping[str, str]):
    """Request headers as a read-only mapping, looked up case-insensitively."""

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        return str(self._headers[name])

    def get(self, name: str, default: Any = None) -> Any:
        return self._headers.get(name, default)

    def __iter__(self) -> Any:
        return iter(self._headers.keys())

    def __len__(self) -> int:
        return len(self._headers)


def _is_lambda_request(environ: WSGIEnvironment, path: str) -> bool:
    """A Lambda API path, signed for Lambda (an S3 bucket named like a Lambda API
    version must still reach S3) or not signed at all."""
    if not path.startswith(_LAMBDA_VERSIONS):
        return False
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth:
        return True
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return scope[3] == "lambda"
    except IndexError:
        return False


# ---------------------------------------------------------------------- the stand-in stack
def publish_stack(stack: Stack, endpoint: Endpoint, public_url: str | None) -> dict[str, str]:
    """Create, at the endpoint, a CloudFormation stack named like `stack` whose Outputs
    are its resolved outputs, so tests that look a deployed stack up find this one.
    Queue URLs are rewritten to point at `public_url` (serve), which answers for the
    queues whatever the backend. Returns the outputs as published."""
    outputs = {key: _public_value(stack, value, public_url) for key, value in stack.outputs.items()}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"asyncrun serve: stand-in for {stack.name} ({stack.template_path.name}): outputs",
        "Parameters": {
            name: {"Type": "String", "Default": str(value)}
            for name, value in sorted(stack.parameters.items())
        },
        # A resource that creates nothing: a stack needs one.
        "Resources": {"AsyncrunServe": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value or "-"} for key, value in outputs.items()},
    }
    cloudformation = endpoint.client("cloudformation")
    with warnings.catch_warnings():
        # moto says it does not implement WaitConditionHandle: that is the point.
        warnings.simplefilter("ignore", UserWarning)
        with contextlib.suppress(Exception):  # absent: nothing to replace
            cloudformation.delete_stack(StackName=stack.name)
        cloudformation.create_stack(StackName=stack.name, TemplateBody=json.dumps(template))
    return outputs


def _public_value(stack: Stack, value: str, public_url: str | None) -> str:
    if not public_url:
        return value
    for queue in stack.queues.values():
        if value in {
            queue.url,
            f"https://sqs.{stack.region}.amazonaws.com/{stack.account_id}/{queue.name}",
            f"https://queue.amazonaws.com/{stack.account_id}/{queue.name}",
        }:
            # What moto answers to GetQueueUrl through serve.
            return f"{public_url.rstrip('/')}/{stack.account_id}/{queue.name}"
    return value


# ---------------------------------------------------------------------- the server
class Server:
    """Everything `asyncrun serve` runs, started and stopped together."""

    def __init__(
        self,
        stack: Stack,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        endpoint_url: str | None = None,
        virtual_clock: bool = False,
        faults: Sequence[Any] = (),
        seed: int | None = None,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        listeners: Sequence[Callable[[TraceEvent], None]] = (),
        executor: str = "process",
        max_environments: int | None = None,
    ) -> None:
        from werkzeug.serving import make_server

        from asyncrun.runtimes import local_executor
        from asyncrun.service.clock import RealClock
        from asyncrun.service.engine import Engine
        from asyncrun.stack.endpoint import Endpoint
        from asyncrun.stack.provision import provision

        self.stack = stack
        # The port first: taken, it fails before the work of provisioning. Requests wait
        # in the listen backlog until serve_forever; the application is set just below.
        self.app: ServeApp | None = None
        self._http = make_server(
            host, port, self._dispatch, threaded=True, request_handler=_request_handler()
        )
        self.url = f"http://{_url_host(host)}:{self._http.server_port}"
        self.clock: Clock = SkippableClock() if virtual_clock else RealClock()
        self.endpoint = Endpoint(endpoint_url, stack.region).start()
        provision(stack, self.endpoint)
        self.executor = local_executor(executor, stack, self.endpoint, max_environments=max_environments)
        self.engine = Engine(
            stack,
            self.endpoint,
            clock=self.clock,
            faults=faults,
            seed=seed,
            listeners=listeners,
            executor=self.executor,
            account_concurrency=account_concurrency,
        )
        self.lock = self.engine.lock
        self.runner = QueueRunner(self.engine, self.lock, self.clock)
        self.engine.on_new_work = self.runner.wake
        backend: WSGIApplication = ForwardingBackend(endpoint_url) if endpoint_url else EmbeddedMoto()
        self.lambda_api = LambdaApi(
            stack,
            self.engine,
            lock=self.lock,
            on_queued=self.runner.wake,
            now=time.time,
            roles=_provisioned_roles(stack, self.endpoint),
        )
        self.lambda_api.answer_functions()
        self.admin = AdminApi(self.engine, self.lock, self.clock, virtual=virtual_clock)
        self.app = ServeApp(self.lambda_api, self.admin, backend, on_backend_request=self.runner.wake)
        self.outputs = publish_stack(stack, self.endpoint, self.url)

    def _dispatch(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.app is not None, "serve_forever runs only once the application is built"
        return self.app(environ, start_response)

    def serve_forever(self) -> None:
        self.runner.start()
        try:
            self._http.serve_forever()
        finally:
            self.runner.stop()
            self._http.server_close()

    def shutdown(self) -> None:
        """Stop serving (from another thread or a signal handler)."""
        threading.Thread(target=self._http.shutdown, name="asyncrun-shutdown", daemon=True).start()


def _provisioned_roles(stack: Stack, endpoint: Endpoint) -> dict[str, str]:
    """The execution role each function got when it was provisioned."""
    lambda_client = endpoint.client("lambda")
    roles: dict[str, str] = {}
    for spec in stack.functions.values():
        with contextlib.suppress(Exception):  # described without one: a role ARN is made up
            roles[spec.name] = lambda_client.get_function_configuration(FunctionName=spec.name)["Role"]
    return roles


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - a URL needs a host to reach, not a bind address
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _request_handler() -> Any:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        """moto's handler (it keeps S3 metadata headers with underscores), with the
        access log sent to the `asyncrun.serve.http` logger instead of stderr."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logging.getLogger(f"{__name__}.http").debug('"%s" %s %s', self.requestline, code, size)

    return QuietRequestHandler
