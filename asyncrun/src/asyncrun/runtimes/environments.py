"""Execution environments as Lambda has them: one OS process per environment
(`asyncrun.runtimes.worker`), started with only its function's environment, reused warm
across invocations, and thrown away after a timeout, an init error, a crash or an
out-of-memory, so the next attempt is a cold start.

Why a child process running `asyncrun.runtimes.worker`, not `multiprocessing`: an environment
must start from nothing but its own environment (never forked from the runner, or
it would inherit the runner's modules, moto included, and their state), and
`multiprocessing` would import the runner's `__main__` and pickle through its own
pipes; a plain child process with two pipes of length-prefixed frames is smaller and
shows exactly what the function gets. On Linux the child is forked from a template
process (`asyncrun.runtimes.worker --zygote`), a clean interpreter that holds nothing but the
runtime's preloaded libraries, so a cold start does not import them again.

The runner waits for an attempt in one loop (no threads): it reads the function's
output as it comes, polls the process's resident memory against `MemorySize`, and
kills the process at the deadline. A function's output after the kill never lands,
nor does anything else it would have done.

Known gaps, each also in the README: the memory limit is checked by polling (every
10 ms, Linux `/proc` only; elsewhere it is not enforced and a warning says so), and
it counts the environment's main process only; an init phase over Lambda's 10 s
fails the attempt as a timeout instead of being retried within the invoke phase."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import IO, Any

from asyncrun.runtimes.inprocess import (
    checked_response_size,
    lambda_environment,
    layer_python_root,
    log_group_of,
)
from asyncrun.runtimes.processes import (
    FORKS_FROM_TEMPLATE,
    EnvironmentProcess,
    brings_preloaded,
    process_essentials,
    template_process,
)
from asyncrun.runtimes.worker import read_frame, write_frame
from asyncrun.service.executor import AttemptResult
from asyncrun.service.logs import (
    CloudWatchLogWriter,
    InvocationLog,
    Report,
    embedded_logs_backend,
    log_stream_name,
)
from asyncrun.service.records import timeout_error_payload
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import DEFAULT_ACCOUNT_ID, FunctionSpec

log = logging.getLogger(__name__)

INIT_TIMEOUT = 10.0  # seconds: Lambda's limit on an on-demand init phase
_POLL_INTERVAL = 0.01  # seconds between memory checks while an invocation runs
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Go's names for the signals, as the service's "Runtime exited with error: signal: …"
# words them (**unverified** beyond "killed" and "segmentation fault").
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGTERM: "terminated",
}
_warned_memory = False


@dataclass
class _Environment:
    key: tuple[Any, ...]
    function: FunctionSpec
    process: EnvironmentProcess
    requests: IO[bytes]  # frames to the worker
    answers: IO[bytes]  # frames from the worker
    output: int  # the worker's stdout and stderr, non-blocking
    log_stream: str
    init_ms: float | None = None  # reported once, by the first invocation after init
    pending_output: bytearray = field(default_factory=bytearray)
    peak_rss_mb: int = 0
    closed: bool = False

    def kill(self) -> None:
        if self.closed:  # its descriptors' numbers may belong to other files by now
            return
        self.closed = True
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        self.read_output()
        for stream in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            os.close(self.output)

    def read_output(self) -> bool:
        """Take what the worker wrote so far; False at the end of its output."""
        while True:
            try:
                chunk = os.read(self.output, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.pending_output += chunk

    def take_output_until(self, marker: bytes) -> str | None:
        """The output before `marker` (and the newline put before it), or None."""
        at = self.pending_output.find(marker)
        if at < 0:
            return None
        before = bytes(self.pending_output[:at])
        del self.pending_output[: at + len(marker)]
        return before.removesuffix(b"\n").decode("utf-8", errors="replace")

    def take_output(self) -> str:
        text = bytes(self.pending_output).decode("utf-8", errors="replace")
        self.pending_output.clear()
        return text

    def rss_mb(self) -> int:
        try:
            with open(f"/proc/{self.process.pid}/statm", "rb") as statm:
                resident_pages = int(statm.read().split()[1])
        except (OSError, ValueError, IndexError):
            return 0
        rss = resident_pages * _PAGE_SIZE // (1024 * 1024)
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        return rss


class _InitFailed(Exception):
    def __init__(self, error: dict[str, Any], *, timed_out: bool = False) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error
        self.timed_out = timed_out


class ProcessExecutor:
    """Runs each attempt in the function's execution environment, a process of its own."""

    def __init__(self, endpoint: Endpoint, *, region: str | None = None, write_logs: bool = True) -> None:
        self._endpoint = endpoint
        self._region = region or endpoint.region
        self._environments: dict[str, _Environment] = {}
        self._lock = threading.Lock()
        self._logs: CloudWatchLogWriter | None = None
        if write_logs:
            backend = embedded_logs_backend(DEFAULT_ACCOUNT_ID, self._region) if endpoint.embedded else None
            self._logs = CloudWatchLogWriter(endpoint.client("logs"), embedded_backend=backend)
        self._finalizer = weakref.finalize(self, _kill_all, self._environments)

    def close(self) -> None:
        self._finalizer()

    def reset(self, function: FunctionSpec) -> None:
        """Discard the function's environments: the next call is a cold start."""
        with self._lock:
            for name in [
                n for n, e in self._environments.items() if e.function.logical_id == function.logical_id
            ]:
                self._environments.pop(name).kill()

    def run(
        self,
        function: FunctionSpec,
        *,
        version: str,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        timeout: float,
    ) -> AttemptResult:
        with self._lock:
            return self._attempt(function, version, invoked_arn, payload, request_id, timeout)

    # ------------------------------------------------------------------ one attempt
    def _attempt(self, function: FunctionSpec, *call: Any) -> AttemptResult:
        version, invoked_arn, payload, request_id, timeout = call
        invocation = InvocationLog(json_format=function.log_format == "JSON")
        key = _key(function, version)
        slot = f"{function.logical_id}:{version}"
        environment = self._environments.get(slot)
        if environment is not None and environment.key != key:  # the function changed: a new one
            self._environments.pop(slot).kill()
            environment = None
        if environment is None:
            log_stream = log_stream_name(version)
            try:
                environment = self._start(function, version, key, log_stream, invocation, request_id)
            except _InitFailed as failure:
                return self._init_failed(function, version, log_stream, invocation, request_id, failure)
            self._environments[slot] = environment
        else:
            environment.read_output()  # what a background thread wrote between invocations
            invocation.add_output(environment.take_output())
        result = self._invoke(environment, invocation, version, invoked_arn, payload, request_id, timeout)
        if self._logs is not None:
            self._logs.write(log_group_of(function), environment.log_stream, invocation.entries)
        if not environment_alive(environment):
            self._environments.pop(slot, None)
        return result

    def _start(
        self,
        function: FunctionSpec,
        version: str,
        key: tuple[Any, ...],
        log_stream: str,
        invocation: InvocationLog,
        request_id: str,
    ) -> _Environment:
        """Start an environment and run its init phase. A crash there is reported with the
        invocation's request id, as Lambda's init retried within the invoke phase would
        (**unverified**: the exact response of an invoke whose init exits)."""
        env = lambda_environment(
            function,
            version,
            region=self._region,
            endpoint_env=self._endpoint.function_environment(
                separate_process=True, function_name=function.name
            ),
            log_stream=log_stream,
        )
        env.update(process_essentials())
        # Layers unpack into one /opt in order, a later layer's files over an earlier
        # one's: on separate paths, the later layer comes first.
        layers = [str(layer_python_root(d).resolve()) for d in reversed(function.layer_dirs)]
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        started = time.monotonic()
        process, output = self._spawn(env, layers, request_read, answer_write)
        os.close(request_read)
        os.close(answer_write)
        os.set_blocking(output, False)
        environment = _Environment(
            key,
            function,
            process,
            os.fdopen(request_write, "wb"),
            os.fdopen(answer_read, "rb"),
            output,
            log_stream,
        )
        answer = self._wait(environment, started + INIT_TIMEOUT, memory_mb=function.memory_size)
        environment.init_ms = (time.monotonic() - started) * 1000
        invocation.add_output(environment.take_output())
        if answer is None or answer[0] is None:
            error = _exit_error(request_id, environment, answer[1]) if answer is not None else {}
            environment.kill()
            invocation.add_output(environment.take_output())
            raise _InitFailed(error, timed_out=answer is None)
        header = answer[0][0]
        if not header.get("ok"):
            environment.kill()
            invocation.add_output(environment.take_output())
            raise _InitFailed(dict(header["error"]))
        return environment

    def _spawn(
        self, env: dict[str, str], layers: list[str], request_read: int, answer_write: int
    ) -> tuple[EnvironmentProcess, int]:
        """A new environment process and the read end of its output: forked from the
        template process when the function brings none of the preloaded libraries."""
        task_root = env["LAMBDA_TASK_ROOT"]
        if FORKS_FROM_TEMPLATE and not brings_preloaded(task_root, layers):
            output_read, output_write = os.pipe()
            try:
                forked = template_process().spawn(
                    env, task_root, layers, [request_read, answer_write, output_write]
                )
            finally:
                os.close(output_write)
            return forked, output_read
        process = subprocess.Popen(  # noqa: S603 - this interpreter, running asyncrun's worker
            [
                sys.executable,
                "-u",
                "-m",
                "asyncrun.runtimes.worker",
                str(request_read),
                str(answer_write),
                json.dumps(layers),
            ],
            cwd=task_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(request_read, answer_write),
        )
        assert process.stdout is not None
        output = os.dup(process.stdout.fileno())
        process.stdout.close()
        return process, output

    def _init_failed(
        self,
        function: FunctionSpec,
        version: str,
        log_stream: str,
        invocation: InvocationLog,
        request_id: str,
        failure: _InitFailed,
    ) -> AttemptResult:
        """The attempt fails with the init error; the environment is gone, so the next
        attempt starts a fresh one. The error object is the runtime's: an init error
        belongs to no request (its `requestId` is empty)."""
        error = failure.error
        if failure.timed_out:  # over INIT_TIMEOUT: reported as the function's timeout (see the docstring)
            error = timeout_error_payload(request_id, float(function.timeout))
        invocation.start(request_id, version)
        report = Report(request_id, 0.0, function.memory_size, 0, None, "error", error.get("errorType"))
        if failure.timed_out:
            report.status = "timeout"
        invocation.end(report)
        if self._logs is not None:
            self._logs.write(log_group_of(function), log_stream, invocation.entries)
        return AttemptResult(
            False, _dumps(error), error, 0.0, logs=invocation.text(), timed_out=failure.timed_out
        )

    def _invoke(
        self,
        environment: _Environment,
        invocation: InvocationLog,
        version: str,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        timeout: float,
    ) -> AttemptResult:
        function = environment.function
        marker = f"asyncrun-end-{uuid.uuid4().hex}"
        invocation.start(request_id, version)
        header = {
            "request_id": request_id,
            "invoked_arn": invoked_arn,
            "version": version,
            "timeout": timeout,
            "marker": marker,
        }
        started = time.monotonic()
        with contextlib.suppress(OSError):  # it died between invocations: the wait below says how
            write_frame(environment.requests, header, payload)
        answer = self._wait(environment, started + timeout, memory_mb=function.memory_size)
        duration_ms = (time.monotonic() - started) * 1000
        report = Report(
            request_id, duration_ms, function.memory_size, environment.peak_rss_mb, environment.init_ms
        )
        environment.init_ms = None
        if answer is None:  # the deadline: stop the environment, as Lambda does
            environment.kill()
            invocation.add_output(environment.take_output())
            invocation.timed_out(request_id, timeout)
            error = timeout_error_payload(request_id, timeout)
            report.status = "timeout"
            invocation.end(report)
            return AttemptResult(
                False, _dumps(error), error, duration_ms, logs=invocation.text(), timed_out=True
            )
        frame, out_of_memory = answer
        if frame is None:  # the process ended (exit, crash, or killed over its memory)
            error = _exit_error(request_id, environment, out_of_memory)
            environment.kill()
            invocation.add_output(environment.take_output())
            report.status, report.error_type = "error", error["errorType"]
            invocation.end(report)
            return AttemptResult(False, _dumps(error), error, duration_ms, logs=invocation.text())
        answer_header, body = frame
        end = f"{marker}\n".encode()  # as the worker writes it, after a newline of its own
        while (text := environment.take_output_until(end)) is None and environment.read_output():
            time.sleep(0.001)  # written before the answer: a moment at most
        invocation.add_output(text if text is not None else environment.take_output())
        report.max_memory_used_mb = max(int(answer_header.get("max_memory_mb", 0)), environment.peak_rss_mb)
        if answer_header.get("ok"):
            result = checked_response_size(AttemptResult(True, body, None, duration_ms))
        else:
            error = dict(answer_header["error"])
            result = AttemptResult(False, _dumps(error), error, duration_ms)
        if not result.ok:
            report.status, report.error_type = "error", result.error_type
        invocation.end(report)
        result.logs = invocation.text()
        return result

    def _wait(
        self, environment: _Environment, deadline: float, *, memory_mb: int
    ) -> tuple[tuple[dict[str, Any], bytes] | None, bool] | None:
        """The worker's next frame (None: it ended; with whether it was killed over its
        memory), or None at the deadline. Reads its output and watches its memory meanwhile."""
        global _warned_memory
        watch_memory = sys.platform.startswith("linux")
        if not watch_memory and not _warned_memory:
            _warned_memory = True
            log.warning(
                "MemorySize is not enforced on %s: functions may use more memory than on Lambda", sys.platform
            )
        with selectors.DefaultSelector() as selector:
            selector.register(environment.answers, selectors.EVENT_READ, "answer")
            output_open = True
            selector.register(environment.output, selectors.EVENT_READ, "output")
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                for key, _ in selector.select(min(left, _POLL_INTERVAL)):
                    if key.data == "answer":
                        return read_frame(environment.answers), False
                    if output_open and not environment.read_output():
                        selector.unregister(environment.output)
                        output_open = False
                if watch_memory and environment.rss_mb() > memory_mb:
                    environment.kill()
                    return None, True


def environment_alive(environment: _Environment) -> bool:
    return environment.process.poll() is None


def _exit_error(request_id: str, environment: _Environment, out_of_memory: bool) -> dict[str, Any]:
    """What the service reports when the runtime process ends during an invocation."""
    try:  # its output is closed: it is on its way out
        code = environment.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        environment.kill()
        code = environment.process.wait()
    if out_of_memory:
        # **unverified**: the error type and message Lambda gives a Python function
        # stopped at its memory limit, as reports show them.
        return {
            "errorType": "Runtime.OutOfMemory",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
        }
    if code < 0:
        try:
            sig = signal.Signals(-code)
            name = _SIGNAL_NAMES.get(sig, sig.name)
        except ValueError:
            name = str(-code)
        reason = f"Runtime exited with error: signal: {name}"
    elif code == 0:
        reason = "Runtime exited without providing a reason"
    else:
        reason = f"Runtime exited with error: exit status {code}"
    return {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {reason}"}


def _key(function: FunctionSpec, version: str) -> tuple[Any, ...]:
    """What an environment was made from: a change starts a new one."""
    return (
        function.logical_id,
        function.name,
        version,
        function.handler,
        str(function.code_dir),
        tuple(str(d) for d in function.layer_dirs),
        tuple(sorted(function.environment.items())),
        function.memory_size,
        function.log_format,
        function.application_log_level,
        function.log_group,
    )


def _kill_all(environments: dict[str, _Environment]) -> None:
    for environment in environments.values():
        environment.kill()
    environments.clear()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
