"""A function's own `lambda.invoke`, routed to the engine.

Functions run in processes of their own and call the embedded endpoint on loopback;
this WSGI layer in front of moto takes `Invoke` (every invocation type) and hands it
to the engine with the execution environment that made the call, named by the
request's access key id (`asyncrun.stack.call_faults`): an `Event` is queued one hop
after the event whose attempt made it, so the recursion guard sees the chain, and
answered 202; a `RequestResponse` runs now, in an environment of its own, while the
calling attempt waits, and is answered as the Lambda API answers it (`DryRun`: 204).
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


class FunctionInvokeFront:
    def __init__(self, app: WSGIApplication, engine: Callable[[], Any]) -> None:
        self._app = app
        self._engine = engine  # the engine the endpoint's functions belong to now, or None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = _INVOKE.fullmatch(environ.get("PATH_INFO", ""))
        engine = self._engine()
        if match is None or engine is None or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
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
        reason = http.client.responses.get(status, "")
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(payload)))])
        return [payload]
