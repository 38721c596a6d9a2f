"""One Lambda execution environment: the process `asyncrun.runtimes.environments` starts for a
function (`python -u -m asyncrun.runtimes.worker CONTROL_IN CONTROL_OUT`), with only that
function's environment, its code folder as the working directory and its layers on
`sys.path` in Lambda's order.

It imports the handler once (the init phase), says whether that worked, then runs one
invocation per request until its input closes, keeping module state between them, as
the Python runtime does. The handler's stdout and stderr are the process's own, read
by the runner as the function's log; the end of each invocation's output is marked
with a token the request carries, so the runner knows which lines belong to it.

Requests and answers are frames on two pipes: a 4-byte big-endian length and a JSON
header, then a 4-byte length and the raw body (the event; the marshalled response).
Only the standard library and asyncrun's own small modules are imported here, so an
environment starts in tens of milliseconds before the handler's own imports.

`python -u -m asyncrun.runtimes.worker --zygote SOCKET` is a template process instead: it
imports the libraries the Lambda runtime provides and most functions load first
(`PRELOADED`), then forks one environment per request it receives on SOCKET, with
the pipes passed along. A fork is a new process, with its own memory and state, and
it is used only for functions whose code and layers do not bring their own copy of
those libraries; it saves each cold start the seconds of importing them (the init
phase it reports is then that much shorter than Lambda's)."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import resource
import socket
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from asyncrun.runtimes.context import LambdaContext
from asyncrun.runtimes.responses import MARSHAL_ERROR_TYPE, MarshalError, marshal_response

_LENGTH = 4
_THIS_FILE = os.path.abspath(__file__)
# The runtime joins the lines of one log entry with "\r" on a plain stdout, so a
# reader splitting on newlines keeps an error and its traceback as one entry.
ENTRY_LINE_JOIN = "\r"


# ---------------------------------------------------------------------- frames
def write_frame(stream: IO[bytes], header: dict[str, Any], body: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    stream.write(len(encoded).to_bytes(_LENGTH, "big") + encoded + len(body).to_bytes(_LENGTH, "big"))
    stream.write(body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or None at the end of the stream."""
    size = _read_exactly(stream, _LENGTH)
    if size is None:
        return None
    header = _read_exactly(stream, int.from_bytes(size, "big"))
    body_size = _read_exactly(stream, _LENGTH)
    if header is None or body_size is None:
        return None
    body = _read_exactly(stream, int.from_bytes(body_size, "big"))
    if body is None:
        return None
    return json.loads(header), body


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def peak_rss_mb() -> int:
    """This process's peak resident memory, as Lambda's `Max Memory Used` counts it.
    Linux's high-water mark is this program's own; `ru_maxrss` would carry over the
    parent's peak across fork and exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return max(1, round(int(line.split()[1]) / 1024))
    except OSError:
        pass
    return max(1, round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024))


# ---------------------------------------------------------------------- the runtime's logging
_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _TextFormatter(logging.Formatter):
    """The runtime's text format: level, UTC time with milliseconds, request id, message."""

    def __init__(self) -> None:
        super().__init__(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", ENTRY_LINE_JOIN)


# Attributes every LogRecord has: the JSON format adds only the others (a logger's extras).
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "aws_request_id", "asctime"}


class _JsonFormatter(logging.Formatter):
    """The runtime's JSON format (`LoggingConfig.LogFormat: JSON`): one object per record."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        exc = record.exc_info
        entry: dict[str, Any] = {
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc and exc[0] else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        return json.dumps({k: v for k, v in entry.items() if v is not None}, ensure_ascii=False, default=str)


class _StdoutHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _setup_logging(json_format: bool, level: str) -> None:
    handler = _StdoutHandler()
    handler.setFormatter(_JsonFormatter() if json_format else _TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = {"TRACE": "DEBUG"}.get(level.upper(), level.upper())
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)


def log_error(error: dict[str, Any], json_format: bool) -> None:
    """An unhandled error as the runtime writes it to the log."""
    if json_format:
        moment = datetime.now(UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        entry = {"timestamp": stamp, "level": "ERROR", **error}
        sys.stdout.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return
    description = "[ERROR]"
    if error.get("errorType"):
        description += f" {error['errorType']}:" if error.get("errorMessage") else f" {error['errorType']}"
    if error.get("errorMessage"):
        description += f" {error['errorMessage']}"
    lines = [description]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            for line in str(element).splitlines() or [""]:
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    sys.stdout.write(ENTRY_LINE_JOIN.join(lines).replace("\n", ENTRY_LINE_JOIN) + "\n")


# ---------------------------------------------------------------------- init and invoke
def error_object(message: str, error_type: str, request_id: str, stack_trace: list[str]) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def _user_frames(tb: Any) -> list[str]:
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) != _THIS_FILE]
    frames = [f for f in frames if not ("importlib" in f.filename and "_bootstrap" in f.filename)]
    return traceback.format_list(frames)


def load_handler(handler: str) -> Any:
    """Import the handler's module as the runtime does; an error object on failure."""
    try:
        module_name, attribute = handler.rsplit(".", 1)
    except ValueError as exc:
        raise InitFailure(
            error_object(f"Bad handler '{handler}': {exc}", "Runtime.MalformedHandlerName", "", [])
        ) from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise InitFailure(
            error_object(
                f"Cannot use built-in module {module_name} as a handler module",
                "Runtime.BuiltInModuleConflict",
                "",
                [],
            )
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise InitFailure(
            error_object(
                f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError", "", []
            )
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise InitFailure(
            error_object(
                f"Syntax error in module '{module_name}': {exc}", "Runtime.UserCodeSyntaxError", "", trace
            )
        ) from None
    except Exception as exc:
        raise InitFailure(
            error_object(str(exc), type(exc).__name__, "", _user_frames(exc.__traceback__))
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        raise InitFailure(
            error_object(
                f"Handler '{attribute}' missing on module '{module_name}'", "Runtime.HandlerNotFound", "", []
            )
        )
    return function


class InitFailure(Exception):
    """The handler's module could not be loaded, or has no such handler: the runtime's error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


def invoke(
    handler: Any, header: dict[str, Any], body: bytes, json_format: bool
) -> tuple[dict[str, Any], bytes]:
    global _request_id
    request_id = str(header["request_id"])
    _request_id = request_id
    env = os.environ
    context = LambdaContext(
        function_name=env["AWS_LAMBDA_FUNCTION_NAME"],
        function_version=str(header["version"]),
        invoked_function_arn=str(header["invoked_arn"]),
        memory_limit_in_mb=env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        aws_request_id=request_id,
        log_group_name=env["AWS_LAMBDA_LOG_GROUP_NAME"],
        log_stream_name=env["AWS_LAMBDA_LOG_STREAM_NAME"],
        timeout_seconds=float(header["timeout"]),
    )
    try:
        event = json.loads(body) if body else {}
        response = marshal_response(handler(event, context))
        return {"ok": True}, response
    except MarshalError as exc:
        error = error_object(str(exc), MARSHAL_ERROR_TYPE, request_id, [])
    except Exception as exc:
        error = error_object(str(exc), type(exc).__name__, request_id, _user_frames(exc.__traceback__))
    log_error(error, json_format)
    return {"ok": False, "error": error}, b""


def main(argv: list[str]) -> int:
    control_in = os.fdopen(int(argv[1]), "rb")
    control_out = os.fdopen(int(argv[2]), "wb")
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    layers = json.loads(argv[3]) if len(argv) > 3 else []
    # Lambda's order: the function's code, then the layers, then the runtime's libraries.
    # The runner's own folder served to load this module only: the function does not see it.
    runner_root = os.environ.pop("PYTHONPATH", "")
    own = [task_root, *layers]
    sys.path[:] = own + [p for p in sys.path if p not in own and p not in ("", ".", runner_root)]
    json_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
    _setup_logging(json_format, os.environ.get("AWS_LAMBDA_LOG_LEVEL", ""))
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except InitFailure as failure:
        log_error(failure.error, json_format)
        sys.stdout.flush()
        write_frame(control_out, {"type": "init", "ok": False, "error": failure.error})
        return 0
    write_frame(control_out, {"type": "init", "ok": True})
    while (request := read_frame(control_in)) is not None:
        header, body = request
        answer, response = invoke(handler, header, body, json_format)
        sys.stdout.flush()
        sys.stderr.flush()
        # The marker goes out before the answer: once the runner has the answer, every
        # line the invocation wrote is already in its log pipe.
        os.write(1, f"\n{header['marker']}\n".encode())
        answer.update({"type": "result", "max_memory_mb": peak_rss_mb()})
        write_frame(control_out, answer, response)
    return 0


# ---------------------------------------------------------------------- the template process
PRELOADED = ("boto3", "botocore", "pydantic")
_MAX_MESSAGE = 1 << 20


def zygote(socket_fd: int) -> int:
    if sys.path and sys.path[0] == os.getcwd():
        sys.path.pop(0)  # `-m` put the working directory first: no function's
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    channel = socket.socket(fileno=socket_fd)
    exit_codes: dict[int, int] = {}
    while True:
        message, fds, _, _ = socket.recv_fds(channel, _MAX_MESSAGE, 3)
        if not message:
            return 0
        request = json.loads(message)
        if request["kind"] == "spawn":
            pid = os.fork()
            if pid == 0:
                channel.close()
                _become_environment(request, fds)
            for fd in fds:
                os.close(fd)
            channel.sendall(json.dumps({"pid": pid}).encode())
        else:  # "wait": the exit code once the environment ended (None: still running)
            code = _wait(int(request["pid"]), float(request["timeout"]), exit_codes)
            channel.sendall(json.dumps({"code": code}).encode())


def _wait(pid: int, timeout: float, exit_codes: dict[int, int]) -> int | None:
    deadline = time.monotonic() + timeout
    while pid not in exit_codes:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            exit_codes[pid] = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)
    return exit_codes[pid]


def _become_environment(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: take the environment's pipes, directory and variables,
    run as an environment, and end as the interpreter would."""
    request_read, answer_write, output = fds
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    code = 1
    try:
        code = main(["worker", str(request_read), str(answer_write), json.dumps(request["layers"])])
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        sys.exit(zygote(int(sys.argv[2])))
    sys.exit(main(sys.argv))
