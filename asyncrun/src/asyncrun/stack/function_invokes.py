"""A function's own `lambda.invoke`, routed to the engine.

Functions run in processes of their own and call the embedded endpoint on loopback;
this WSGI layer in front of moto takes `Invoke` (every invocation type) and hands it
to the engine with the execution environment that made the call, named by the
request's access key id (`asyncrun.stack.call_faults`): an `Event` is queued one hop
after the event whose attempt made it, so the recursion guard sees the chain, and
answered 202; a `RequestResponse` runs now, in an environment of its own, while the
calling attempt waits, and is answered as the Lambda API answers it (`DryRun`: 204).
The event-invoke-config operations go to the engine's `config_api` when one is set
(the Lambda API asyncrun serves), so the engine sees what a function configures.
Everything else goes on to moto."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from asyncrun.errors import LambdaServiceError
from asyncrun.stack.call_faults import caller_of

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

_INVOKE = re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/invocations/?")
_CONFIG = re.compile(r"/2019-09-25/functions/[^/]+/event-invoke-config(/list)?/?")


class FunctionInvokeFront:
    def __init__(self, app: WSGIApplication, engine: Callable[[], Any]) -> None:
        self._app = app
        self._engine = engine  # the engine the endpoint's functions belong to now, or None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        match = _INVOKE.fullmatch(path)
        engine = self._engine()
        if engine is not None and engine.config_api is not None and _CONFIG.fullmatch(path):
            return self._configure(engine.config_api, environ, start_response)
        if match is None or engine is None or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        body = _body(environ)
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        caller = caller_of(environ)
        try:
            status, headers, payload = engine.invoke(
                unquote(match["fn"]),
                body,
                invocation_type=environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse",
                qualifier=qualifier,
                log_type=environ.get("HTTP_X_AMZ_LOG_TYPE"),
                environment=caller.environment if caller is not None else None,
            )
        except LambdaServiceError as error:
            status, payload = error.status, json.dumps(error.body()).encode()
            headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": error.code}
            start_response(
                f"{status} {error.code}", [*headers.items(), ("Content-Length", str(len(payload)))]
            )
            return [payload]
        return _respond(start_response, status, headers, payload)

    def _configure(
        self, config_api: Callable[..., Any], environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        query = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        answer = config_api(
            environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), query, _body(environ)
        )
        if answer is None:  # not an operation it answers
            return self._app(environ, start_response)
        return _respond(start_response, *answer)


def _body(environ: WSGIEnvironment) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _respond(
    start_response: StartResponse, status: int, headers: dict[str, str], body: bytes
) -> Iterable[bytes]:
    reason = http.client.responses.get(status, "")
    start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]
