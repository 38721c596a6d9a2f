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

Each function version has a pool of environments (`asyncrun.runtimes.pool`): attempts
that run at once, from several threads, get one each. An attempt is waited for in
one loop on its caller's thread: it reads the function's output as it comes, polls
the process's resident memory against `MemorySize`, and kills the process at the
deadline. A function's output after the kill never lands,
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
from typing import Any

from asyncrun.runtimes.inprocess import (
    checked_response_size,
    lambda_environment,
    layer_python_root,
    log_group_of,
)
from asyncrun.runtimes.pool import MAX_ENVIRONMENTS, Environment, EnvironmentPool
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


class _InitFailed(Exception):
    def __init__(self, error: dict[str, Any], *, timed_out: bool = False) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error
        self.timed_out = timed_out


class ProcessExecutor:
    """Runs each attempt in an execution environment of its function, a process of its
    own; `run` may be called from several threads at once."""

    isolates_concurrent_attempts = True

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        region: str | None = None,
        write_logs: bool = True,
        max_environments: int = MAX_ENVIRONMENTS,
    ) -> None:
        self._endpoint = endpoint
        self._region = region or endpoint.region
        self._pool = EnvironmentPool(max_environments)
        self._logs: CloudWatchLogWriter | None = None
        self._logs_lock = threading.Lock()  # attempts end on several threads
        self._warned_sharing: set[str] = set()
        if write_logs:
            backend = embedded_logs_backend(DEFAULT_ACCOUNT_ID, self._region) if endpoint.embedded else None
            self._logs = CloudWatchLogWriter(endpoint.client("logs"), embedded_backend=backend)
        self._finalizer = weakref.finalize(self, self._pool.kill_all)
        if FORKS_FROM_TEMPLATE:
            template_process()  # started now, it imports the preloaded libraries meanwhile

    def close(self) -> None:
        self._finalizer()

    def reset(self, function: FunctionSpec) -> None:
        """Discard the function's environments: its next attempt is a cold start."""
        for environment in self._pool.reset(function):
            environment.kill()

    def caller(self, environment_id: str) -> str | None:
        """The request the environment runs now (its calls are that attempt's), or None."""
        return self._pool.request_of(environment_id)

    def release(self, request_id: str) -> None:
        for environment in self._pool.release(request_id):
            environment.kill()

    def run(
        self,
        function: FunctionSpec,
        *,
        version: str,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        timeout: float,
        hold: bool = False,
    ) -> AttemptResult:
        invocation = InvocationLog(json_format=function.log_format == "JSON")
        key = _key(function, version)
        slot = f"{function.logical_id}:{version}"
        environment, stale, shared = self._pool.take(slot, key, request_id)
        for old in stale:  # the function changed: its old environments go
            old.kill()
        if shared:
            self._warn_sharing(function)
        if not isinstance(environment, Environment):
            log_stream = log_stream_name(version)
            environment_id = environment
            try:
                environment = self._start(
                    function, version, key, log_stream, invocation, request_id, environment_id
                )
            except _InitFailed as failure:
                self._pool.forget(environment_id)
                return self._init_failed(function, version, log_stream, invocation, request_id, failure)
            except BaseException:
                self._pool.forget(environment_id)
                raise
            self._pool.started(environment)
        else:
            environment.read_output()  # what a background thread wrote between invocations
            invocation.add_output(environment.take_output())
        try:
            result = self._invoke(environment, invocation, version, invoked_arn, payload, request_id, timeout)
            self._write_logs(function, environment.log_stream, invocation)
        finally:
            alive = environment_alive(environment)
            if not self._pool.give_back(environment, alive, hold=request_id if hold else None):
                environment.kill()
        return result

    def _warn_sharing(self, function: FunctionSpec) -> None:
        """Once per function: past the pool's limit, attempts that overlap share environments."""
        if function.logical_id not in self._warned_sharing:
            self._warned_sharing.add(function.logical_id)
            log.warning(
                "more than %d attempts of %s run at once: they share its %d execution environments "
                "(asyncrun's limit per function version, --max-environments), where Lambda starts one, "
                "with its init, for each",
                self._pool.max_environments,
                function.name,
                self._pool.max_environments,
            )

    def _write_logs(self, function: FunctionSpec, log_stream: str, invocation: InvocationLog) -> None:
        if self._logs is not None:
            with self._logs_lock:
                self._logs.write(log_group_of(function), log_stream, invocation.entries)

    def _start(
        self,
        function: FunctionSpec,
        version: str,
        key: tuple[Any, ...],
        log_stream: str,
        invocation: InvocationLog,
        request_id: str,
        environment_id: str,
    ) -> Environment:
        """Start an environment and run its init phase. A crash there is reported with the
        invocation's request id, as Lambda's init retried within the invoke phase would
        (**unverified**: the exact response of an invoke whose init exits)."""
        env = lambda_environment(
            function,
            version,
            region=self._region,
            endpoint_env=self._endpoint.function_environment(
                separate_process=True, function_name=function.name, environment_id=environment_id
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
        environment = Environment(
            environment_id,
            f"{function.logical_id}:{version}",
            self._pool.generation(function),
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
        self._write_logs(function, log_stream, invocation)
        return AttemptResult(
            False, _dumps(error), error, 0.0, logs=invocation.text(), timed_out=failure.timed_out
        )

    def _invoke(
        self,
        environment: Environment,
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
        self, environment: Environment, deadline: float, *, memory_mb: int
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


def environment_alive(environment: Environment) -> bool:
    return environment.process.poll() is None


def _exit_error(request_id: str, environment: Environment, out_of_memory: bool) -> dict[str, Any]:
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


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
