"""A function's own asynchronous `lambda.invoke`, routed to the engine.

Functions run in processes of their own and call the embedded endpoint on loopback;
this WSGI layer in front of moto takes `Invoke` with `InvocationType=Event` and hands
it to the engine (which queues it one hop after the event whose attempt made it, so
the recursion guard sees the chain), answering 202 as the service does. Everything
else, synchronous invokes included, goes on to moto: an engine busy with the calling
attempt cannot run another function meanwhile (one attempt at a time)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from asyncrun.errors import LambdaServiceError

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
        if (
            match is None
            or engine is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("HTTP_X_AMZ_INVOCATION_TYPE") != "Event"
        ):
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        try:
            request_id = engine.invoke_async_from_function(unquote(match["fn"]), body, qualifier=qualifier)
        except LambdaServiceError as error:
            payload = json.dumps(error.body()).encode()
            start_response(
                f"{error.status} {error.code}",
                [
                    ("Content-Type", "application/json"),
                    ("X-Amzn-ErrorType", error.code),
                    ("Content-Length", str(len(payload))),
                ],
            )
            return [payload]
        start_response("202 Accepted", [("X-Amzn-RequestId", request_id), ("Content-Length", "0")])
        return [b""]
