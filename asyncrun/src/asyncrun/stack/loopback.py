"""The HTTP server that gives the functions' processes the embedded moto on a loopback
port: moto's request handler, with connections kept open between requests.

werkzeug's development server closes the connection after every response, so each AWS
call a function made cost a new TCP connection and a new server thread, and the
function's SDK a new connection of its pool. Here a connection stays open (HTTP/1.1
keep-alive, one thread per connection) until the client closes it, as the SDK's pool
expects: a call over loopback then costs about 60 % of what it did (a DynamoDB
`GetItem` about 3 ms instead of 5.4 ms on 2 cores; in the process, without HTTP, 1.8 ms).

Keeping a connection open needs each request read to its end, whatever the
application read of it, so the next request starts where it should: the body is given
to the application as a stream bounded by its length (or by its last chunk) and what
is left of it is read off after the answer. Responses go out with their length, the
headers and the start of the body in one write, with Nagle's algorithm off (a
response written in two parts otherwise waits for the client's delayed ACK, 40 ms)."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger(__name__)

_NO_BODY_STATUSES = frozenset({204, 304})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


class _BoundedBody(io.RawIOBase):
    """A request body of a known length, read from the connection and no further."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        if not data:  # the client went away mid-body
            raise ConnectionResetError("request body ended early")
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def serve(app: WSGIApplication) -> BaseWSGIServer:
    """`app` served on 127.0.0.1 (a free port), from a daemon thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_handler_class())
    # Polled often, so that stopping the endpoint does not wait half a second for it.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="asyncrun-loopback", daemon=True).start()
    return server


def _handler_class() -> type:
    # Built on first use: moto's server module is imported only when something is served.
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import DechunkedInput

    class KeepAliveHandler(MotoRequestHandler):
        """moto's request handler (it keeps S3 metadata headers with underscores),
        silent, keeping the connection open between requests."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.make_environ()
            raw: Any = environ["wsgi.input"]
            if not isinstance(raw, DechunkedInput):
                raw = _BoundedBody(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))
            body = io.BufferedReader(raw)
            environ["wsgi.input"] = body
            environ["wsgi.input_terminated"] = True  # the stream ends with the body: read it whole
            answer: list[Any] = []
            chunks: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                answer[:] = [status, headers]
                return chunks.append

            try:
                result: Iterable[bytes] = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                while body.read(65536):  # what the application left of the body
                    pass
            except ConnectionError:
                self.close_connection = True
                return
            except Exception:
                log.exception("loopback endpoint: %s %s failed", self.command, self.path)
                self.close_connection = True
                answer[:] = ["500 Internal Server Error", [("Content-Type", "text/plain")]]
                chunks[:] = [b"Internal Server Error"]
            self._answer(str(answer[0]), list(answer[1]), chunks)

        def _answer(self, status: str, headers: list[tuple[str, str]], chunks: list[bytes]) -> None:
            code_text, _, reason = status.partition(" ")
            code = int(code_text)
            lines = [f"{self.protocol_version} {code} {reason}\r\n"]
            length = None
            for name, value in headers:
                lowered = name.lower()
                if lowered in _HOP_BY_HOP:
                    continue
                if lowered == "content-length":
                    length = value
                lines.append(f"{name}: {value}\r\n")
            data = b"".join(chunks)
            if length is None and code not in _NO_BODY_STATUSES and not 100 <= code < 200:
                lines.append(f"Content-Length: {len(data)}\r\n")
            if self.close_connection:
                lines.append("Connection: close\r\n")
            lines.append("\r\n")
            head = "".join(lines).encode("latin-1")
            if self.command == "HEAD" or code in _NO_BODY_STATUSES:
                data = b""
            self.wfile.write(head + data)
            self.wfile.flush()

    return KeepAliveHandler
