"""Faults in the AWS calls a function makes, answered at the loopback endpoint.

Functions in their own processes reach the embedded moto over loopback
(`asyncrun.stack.endpoint`). Each execution environment signs its calls with an access
key id of its own, made of the function's name and the environment's id
(`function_access_key`), so this WSGI layer in front of moto knows which function made
a call from the signature's `Credential=` scope (`caller_of`), which also names the
service (`dynamodb`, `s3`, `sns`, `sqs`, …). The operation comes from the request:
`X-Amz-Target` (JSON protocols), `Action` (query protocol), or the method and path
(S3, Lambda's `Invoke`).

A triggered fault answers as the service would, and moto never sees the call:

- `throttle`: the service's throttling error (DynamoDB
  `ProvisionedThroughputExceededException`, S3 `503 SlowDown`, SNS `Throttled`, SQS
  `RequestThrottled`, `ThrottlingException` elsewhere);
- `unavailable`: `503 ServiceUnavailable`;
- `error`: `500 InternalError` (DynamoDB: `InternalServerError`).

The SDK in the function retries these as it would against AWS (every one is a
throttling or transient error to botocore), so a fault limited to fewer requests than
the SDK's attempts is absorbed without the function seeing it: `times` counts requests,
retries included. Only calls over loopback are seen: the embedded endpoint with
functions in processes of their own (not `--endpoint-url`, not the thread executor)."""

from __future__ import annotations

import io
import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast, get_args
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

CallFaultKind = Literal["throttle", "unavailable", "error"]
CALL_FAULT_KINDS: tuple[str, ...] = get_args(CallFaultKind)

# An access key id per execution environment: `asyncrun-<function name>.<environment id>`.
# Function names hold only letters, digits, hyphens and underscores, so the key stays
# within the signature's syntax, and the `.` (never in a name) tells the two apart.
FUNCTION_KEY_PREFIX = "asyncrun-"
_ENVIRONMENT_SEPARATOR = "."

_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/[^/]+/[^/]+/(?P<service>[^/,\s]+)/aws4_request")


def function_access_key(function_name: str, environment_id: str | None = None) -> str:
    key = f"{FUNCTION_KEY_PREFIX}{function_name}"
    return key if environment_id is None else f"{key}{_ENVIRONMENT_SEPARATOR}{environment_id}"


@dataclass(frozen=True)
class Caller:
    """Who signed a request: a function, and the execution environment it runs in."""

    function: str
    environment: str | None
    service: str


def caller_of(environ: WSGIEnvironment) -> Caller | None:
    """The function (and environment) that signed the request, from the signature's
    scope, or None for a caller that is not a function (the runner's own calls use
    another key)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if not authorization:  # a presigned URL carries the scope in its query string
        authorization = (
            "Credential=" + parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
        )
    match = _CREDENTIAL.search(authorization)
    if match is None or not match["key"].startswith(FUNCTION_KEY_PREFIX):
        return None
    function, _, environment = (
        match["key"].removeprefix(FUNCTION_KEY_PREFIX).partition(_ENVIRONMENT_SEPARATOR)
    )
    return Caller(function, environment or None, match["service"])


def check_chance(probability: float, times: int | None) -> None:
    """A fault's `PROBABILITY` and `TIMES`, checked (function-level faults share them)."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"fault probability {probability} is not between 0 and 1")
    if times is not None and times < 0:
        raise ValueError(f"fault times {times} is negative")


def parse_chance(optional: list[str], text: str) -> tuple[float, int | None]:
    """`[PROBABILITY][:TIMES]`, split: each may be empty (probability 1, unlimited)."""
    try:
        probability = float(optional[0]) if optional and optional[0] else 1.0
        times = int(optional[1]) if len(optional) > 1 and optional[1] else None
    except ValueError as exc:
        raise ValueError(f"fault {text!r}: {exc}") from None
    return probability, times


def draws(probability: float, generator: random.Random) -> bool:
    """Whether a fault of this probability triggers this time."""
    return probability >= 1.0 or generator.random() < probability


@dataclass
class CallFault:
    """`service` is the signing name (`dynamodb`, `s3`, …); `operation`, if given, the
    API's operation name (`PutItem`, `GetObject`)."""

    function: str  # physical name (the table resolves logical ids when a fault is added)
    service: str
    kind: CallFaultKind
    operation: str | None = None
    probability: float = 1.0
    times: int | None = None  # how many requests it may fail; None = unlimited
    triggered: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in CALL_FAULT_KINDS:
            raise ValueError(f"AWS call fault kind {self.kind!r} is not one of {', '.join(CALL_FAULT_KINDS)}")
        if not self.service:
            raise ValueError("an AWS call fault names a service, e.g. aws:dynamodb:throttle")
        check_chance(self.probability, self.times)

    @classmethod
    def parse(cls, function: str, text: str) -> CallFault:
        """`SERVICE[.OPERATION]:KIND[:PROBABILITY][:TIMES]`, the part after `FUNCTION:aws:`."""
        parts = text.split(":")
        if len(parts) < 2 or len(parts) > 4 or not parts[0]:
            syntax = "FUNCTION:aws:SERVICE[.OPERATION]:KIND[:PROBABILITY][:TIMES]"
            raise ValueError(f"fault {function}:aws:{text!r} is not {syntax}")
        service, _, operation = parts[0].partition(".")
        kind = parts[1]
        if kind not in CALL_FAULT_KINDS:
            raise ValueError(
                f"fault {function}:aws:{text}: kind {kind!r} is not one of {', '.join(CALL_FAULT_KINDS)}"
            )
        probability, times = parse_chance(parts[2:], f"{function}:aws:{text}")
        return cls(
            function, service.lower(), cast(CallFaultKind, kind), operation or None, probability, times
        )

    def applies(self, function: str, service: str, operation: str | None) -> bool:
        if self.function != function or self.service != service:
            return False
        if self.operation is not None and self.operation != operation:
            return False
        return self.times is None or self.triggered < self.times


class CallFaultTable:
    """The faults in force, shared by the engine (which fills it) and the loopback
    endpoint's threads (which consult it); draws from a seeded generator."""

    def __init__(self) -> None:
        self._faults: list[CallFault] = []
        self._random = random.Random()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._faults)

    def reset(self, seed: int | None) -> None:
        """No faults, and a generator seeded anew: the table of a new engine."""
        with self._lock:
            self._faults = []
            self._random = random.Random(seed)

    def add(self, fault: CallFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def trigger(self, function: str, service: str, operation: str | None) -> CallFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(function, service, operation) and draws(fault.probability, self._random):
                    fault.triggered += 1
                    return fault
        return None


class CallFaultFront:
    """The WSGI layer in front of the loopback application that answers faulted calls."""

    def __init__(self, app: WSGIApplication, table: CallFaultTable) -> None:
        self._app = app
        self._table = table

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._table:
            return self._app(environ, start_response)
        caller = caller_of(environ)
        if caller is None:
            return self._app(environ, start_response)
        function, service = caller.function, caller.service
        operation = _operation(environ, service)
        fault = self._table.trigger(function, service, operation)
        if fault is None:
            return self._app(environ, start_response)
        log.info("fault injected: %s's %s.%s answered %s", function, service, operation or "?", fault.kind)
        status, headers, body = error_response(service, fault.kind, environ)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _operation(environ: WSGIEnvironment, service: str) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rpartition(".")[2]
    if service == "s3":
        return _s3_operation(environ)
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    if service == "lambda":
        return "Invoke" if method == "POST" and path.endswith("/invocations") else None
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if method == "POST" and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        # The query protocol's body: read it, and hand the application a fresh copy.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", errors="replace")).get("Action")
        return action[0] if action else None
    return None


def _s3_operation(environ: WSGIEnvironment) -> str | None:
    """The object operations by method, for path-style requests (`/bucket/key`: what
    botocore sends to an IP endpoint); bucket-level operations are not told apart."""
    bucket, _, key = environ.get("PATH_INFO", "").lstrip("/").partition("/")
    if not bucket or not key:
        return None
    method = environ.get("REQUEST_METHOD", "")
    if method == "PUT":
        return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in environ else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method)


# (HTTP status, error code) per service and kind; what is not listed takes `_DEFAULT`.
# The codes are the services' documented ones (SNS's and SQS's from their API models);
# **unverified**: the status SQS answers `RequestThrottled` with, and the messages, which
# here say the fault was injected.
_ERRORS: dict[tuple[str, CallFaultKind], tuple[int, str]] = {
    ("dynamodb", "throttle"): (400, "ProvisionedThroughputExceededException"),
    ("dynamodb", "error"): (500, "InternalServerError"),
    ("s3", "throttle"): (503, "SlowDown"),
    ("sns", "throttle"): (429, "Throttled"),
    ("sqs", "throttle"): (400, "RequestThrottled"),
}
_DEFAULT: dict[CallFaultKind, tuple[int, str]] = {
    "throttle": (400, "ThrottlingException"),
    "unavailable": (503, "ServiceUnavailable"),
    "error": (500, "InternalError"),
}
_REASONS = {
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_MESSAGES: dict[CallFaultKind, str] = {
    "throttle": "Rate exceeded (fault injected by asyncrun)",
    "unavailable": "Service unavailable (fault injected by asyncrun)",
    "error": "Internal error (fault injected by asyncrun)",
}


def error_response(
    service: str, kind: CallFaultKind, environ: WSGIEnvironment
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body of the service's error, in its protocol."""
    status, code = _ERRORS.get((service, kind), _DEFAULT[kind])
    message = _MESSAGES[kind]
    request_id = str(uuid.uuid4())
    headers = [("X-Amzn-RequestId", request_id), ("X-Amzn-ErrorType", code)]
    body: bytes
    if service == "s3":
        headers = [("x-amz-request-id", request_id), ("Content-Type", "application/xml")]
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
    elif environ.get("HTTP_X_AMZ_TARGET") or service == "lambda":
        sender = "Sender" if status < 500 else "Receiver"
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
        if service == "sqs":  # its JSON protocol keeps the query protocol's error codes here
            headers.append(("x-amzn-query-error", f"{code};{sender}"))
        body = json.dumps({"__type": code, "message": message}).encode()
    else:  # the query protocol (SNS)
        sender = "Sender" if status < 500 else "Receiver"
        headers.append(("Content-Type", "text/xml"))
        body = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    if environ.get("REQUEST_METHOD") == "HEAD":
        body = b""  # a HEAD response has no body: the SDK reads the status alone
    return f"{status} {_REASONS[status]}", headers, body
