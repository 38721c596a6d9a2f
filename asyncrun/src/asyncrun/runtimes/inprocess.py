"""Running a function's real handler for one attempt: the `Executor` protocol, what an
attempt gives back, the environment Lambda gives a function, and `ThreadExecutor`.

The default executor is `asyncrun.runtimes.environments.ProcessExecutor`: one OS process per
execution environment, as Lambda isolates them. The others plug in through the same
protocol: Lambda runtime containers through `sam local start-lambda`
(`asyncrun.runtimes.containers`), and `ThreadExecutor` (`--executor thread`).

`ThreadExecutor` runs handlers in a thread of this process, for stepping through a
handler in a debugger. It does **not** isolate: each function gets a "sandbox" (its
code folder and layers on `sys.path`, its own copies of the modules it imports from
them, swapped in and out of `sys.modules` around each call, its environment set for
the call), but installed libraries and the interpreter are shared, a timed-out
handler's thread cannot be stopped and runs on, a `sys.exit` is caught rather than
ending an environment, and nothing it prints is kept as its log."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from asyncrun.runtimes.context import LambdaContext
from asyncrun.runtimes.responses import MARSHAL_ERROR_TYPE, MarshalError, marshal_response
from asyncrun.runtimes.worker import InitFailure
from asyncrun.service.executor import AttemptResult
from asyncrun.service.limits import RESPONSE_SIZE_LIMIT, response_too_large_error
from asyncrun.service.logs import log_stream_name
from asyncrun.service.records import function_error_payload, timeout_error_payload
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import FunctionSpec

log = logging.getLogger(__name__)

_THIS_FILE = os.path.abspath(__file__)
# Never treated as a function's own, even when its CodeUri is a folder holding them
# (CodeUri: . over a repo with a virtualenv): installed packages and the runner itself.
_SHARED_MARKERS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
_RUNNER_DIR = os.path.dirname(os.path.dirname(_THIS_FILE)) + os.sep  # the asyncrun package


def layer_python_root(layer_dir: Path) -> Path:
    """Where a Python layer's importable code is: `python/` when the folder has one
    (the zip layout, unpacked under /opt/python), else the folder itself (a SAM
    source layer whose build puts its content there)."""
    python = layer_dir / "python"
    return python if python.is_dir() else layer_dir


@dataclass
class _Sandbox:
    function: FunctionSpec
    roots: tuple[str, ...]  # absolute folder prefixes, with a trailing separator
    module_name: str
    modules: dict[str, ModuleType] = field(default_factory=dict)
    handler: Any = None  # None until the cold start happened
    # name -> (module, owned): a module's location does not change, and sys.modules
    # holds a thousand or more entries to check around every call.
    _checked: dict[str, tuple[Any, bool]] = field(default_factory=dict)
    # Entries of sys.modules known not to be the sandbox's (skipped by later scans).
    foreign: dict[str, Any] = field(default_factory=dict)

    def owns_entry(self, name: str, module: Any) -> bool:
        known = self._checked.get(name)
        if known is not None and known[0] is module:
            return known[1]
        owned = self.owns(module)
        self._checked[name] = (module, owned)
        return owned

    def owns(self, module: ModuleType) -> bool:
        for location in _module_locations(module):
            if location.startswith(_RUNNER_DIR) or any(m in location for m in _SHARED_MARKERS):
                return False
            if location.startswith(self.roots):
                return True
        return False


def _module_locations(module: ModuleType) -> list[str]:
    locations: list[str] = []
    file = getattr(module, "__file__", None)
    if isinstance(file, str):
        locations.append(os.path.abspath(file))
    spec = getattr(module, "__spec__", None)
    search = getattr(spec, "submodule_search_locations", None) if spec is not None else None
    if search is not None:
        with contextlib.suppress(TypeError):  # an odd loader's path object
            locations.extend(os.path.abspath(p) + os.sep for p in search)
    return locations


def lambda_environment(
    function: FunctionSpec, version: str, *, region: str, endpoint_env: dict[str, str], log_stream: str
) -> dict[str, str]:
    """What the function sees in `os.environ`: its template `Environment`, the variables
    Lambda sets, and what reaches the endpoint (credentials, region, URL)."""
    env = dict(function.environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group_of(function),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": os.path.abspath(function.code_dir),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": function.handler,
            "TZ": ":UTC",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            # Tracing libraries then skip looking for an X-Ray daemon.
            "AWS_SAM_LOCAL": "true",
        }
    )
    if function.log_format == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        if function.application_log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = function.application_log_level
    env.update(endpoint_env)
    return env


def log_group_of(function: FunctionSpec) -> str:
    return function.log_group or f"/aws/lambda/{function.name}"


class ThreadExecutor:
    """Handlers in a thread of this process (see the module docstring: not isolating).
    One attempt at a time, in one sandbox per function: attempts that overlap share it,
    and the engine says so."""

    isolates_concurrent_attempts = False

    def __init__(self, endpoint: Endpoint, *, region: str | None = None) -> None:
        self._endpoint = endpoint
        self._region = region or endpoint.region
        self._sandboxes: dict[str, _Sandbox] = {}
        # One attempt at a time: a call swaps `sys.modules` and `os.environ` process-wide.
        self._lock = threading.Lock()
        self._warned_front = False

    def reset(self, function: FunctionSpec) -> None:
        """Discard the function's execution environment: the next call is a cold start."""
        self._sandboxes.pop(function.logical_id, None)

    def close(self) -> None:
        """Nothing runs outside this process's calls: nothing to stop."""

    def release(self, request_id: str) -> None:
        """A sandbox is never held: attempts share it."""

    def caller(self, environment_id: str) -> str | None:
        """Its functions call the embedded moto in-process, never through the loopback front."""
        return None

    def _sandbox(self, function: FunctionSpec) -> _Sandbox:
        sandbox = self._sandboxes.get(function.logical_id)
        if sandbox is None:
            paths = [function.code_dir, *(layer_python_root(d) for d in function.layer_dirs)]
            roots = tuple(os.path.abspath(p) + os.sep for p in paths)
            module_path = function.handler.rsplit(".", 1)[0]
            safe = "".join(c if c.isalnum() else "_" for c in f"{function.logical_id}_{module_path}")
            sandbox = _Sandbox(function, roots, f"_asyncrun_fn_{safe}")
            self._sandboxes[function.logical_id] = sandbox
        return sandbox

    def environment(self, function: FunctionSpec, version: str) -> dict[str, str]:
        """What the function sees in `os.environ` during a call."""
        return lambda_environment(
            function,
            version,
            region=self._region,
            endpoint_env=self._endpoint.function_environment(),
            log_stream=log_stream_name(version),
        )

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
        with self._lock:
            return self._run(function, version, invoked_arn, payload, request_id, timeout)

    def _run(
        self,
        function: FunctionSpec,
        version: str,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        timeout: float,
    ) -> AttemptResult:
        if self._endpoint.embedded and not self._warned_front:
            self._warned_front = True
            log.warning(
                "with the thread executor the functions call the embedded moto in-process, past the "
                "loopback front: their own lambda.invoke and event-invoke-config calls go to moto, "
                "which does not run the functions they invoke%s",
                ", and faults in AWS calls (FUNCTION:aws:…) are not injected"
                if self._endpoint.call_faults
                else "",
            )
        sandbox = self._sandbox(function)
        context = LambdaContext(
            function_name=function.name,
            function_version=version,
            invoked_function_arn=invoked_arn,
            memory_limit_in_mb=str(function.memory_size),
            aws_request_id=request_id,
            log_group_name=log_group_of(function),
            timeout_seconds=timeout,
        )
        event = json.loads(payload) if payload else {}
        outcome: dict[str, Any] = {}
        started = time.monotonic()
        # The timeout covers the cold start too, as on Lambda for on-demand functions.
        thread = threading.Thread(
            target=self._call,
            args=(sandbox, event, context, outcome),
            name=f"asyncrun-{function.name}-{request_id[:8]}",
            daemon=True,
        )
        with _environment(self.environment(function, version)), _activated(sandbox):
            thread.start()
            thread.join(timeout)
            timed_out = thread.is_alive()
        duration_ms = (time.monotonic() - started) * 1000
        if timed_out:
            # A thread cannot be stopped from outside in CPython: it is abandoned and
            # runs to its end in the background (against the restored environment).
            # Lambda throws the environment away after a timeout: so do we.
            self.reset(function)
            error = timeout_error_payload(request_id, timeout)
            return AttemptResult(False, _dumps(error), error, duration_ms, timed_out=True)
        if "error" in outcome:
            if outcome.get("reset"):
                self.reset(function)
            error = outcome["error"]
            return AttemptResult(False, _dumps(error), error, duration_ms)
        try:
            body = marshal_response(outcome.get("result"))
        except MarshalError as exc:
            error = function_error_payload(
                message=str(exc), error_type=MARSHAL_ERROR_TYPE, request_id=request_id, stack_trace=[]
            )
            return AttemptResult(False, _dumps(error), error, duration_ms)
        return checked_response_size(AttemptResult(True, body, None, duration_ms))

    def _call(self, sandbox: _Sandbox, event: Any, context: LambdaContext, outcome: dict[str, Any]) -> None:
        request_id = context.aws_request_id
        try:
            if sandbox.handler is None:
                sandbox.handler = self._load(sandbox, request_id)
            outcome["result"] = sandbox.handler(event, context)
        except InitFailure as exc:
            outcome["error"] = exc.error
            outcome["reset"] = True
        except SystemExit as exc:
            # The runtime process exited: Lambda reports it and starts a new environment.
            code = exc.code if isinstance(exc.code, int) else 1
            outcome["error"] = {
                "errorType": "Runtime.ExitError",
                "errorMessage": (
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
                ),
            }
            outcome["reset"] = True
        except BaseException as exc:
            outcome["error"] = _exception_payload(exc, request_id)

    def _load(self, sandbox: _Sandbox, request_id: str) -> Any:
        function = sandbox.function
        module_path, _, attribute = function.handler.rpartition(".")
        file = function.code_dir / (module_path.replace(".", "/") + ".py")
        if not file.is_file():
            raise InitFailure(
                function_error_payload(
                    message=f"Unable to import module '{module_path}': No module named '{module_path}'",
                    error_type="Runtime.ImportModuleError",
                    request_id=request_id,
                    stack_trace=[],
                )
            )
        spec = importlib.util.spec_from_file_location(sandbox.module_name, file)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[sandbox.module_name] = module
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            sys.modules.pop(sandbox.module_name, None)
            raise InitFailure(
                function_error_payload(
                    message=f"Unable to import module '{module_path}': {exc}",
                    error_type="Runtime.ImportModuleError",
                    request_id=request_id,
                    stack_trace=[],
                )
            ) from None
        except Exception as exc:
            sys.modules.pop(sandbox.module_name, None)
            raise InitFailure(_exception_payload(exc, request_id)) from None
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise InitFailure(
                function_error_payload(
                    message=f"Handler '{attribute}' missing on module '{module_path}'",
                    error_type="Runtime.HandlerNotFound",
                    request_id=request_id,
                    stack_trace=[],
                )
            )
        return handler


def _exception_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != _THIS_FILE]
    frames = [f for f in frames if "importlib" not in f.filename or "_bootstrap" not in f.filename]
    return function_error_payload(
        message=str(exc),
        error_type=type(exc).__name__,
        request_id=request_id,
        stack_trace=traceback.format_list(frames),
    )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def checked_response_size(result: AttemptResult) -> AttemptResult:
    """A successful response over the limit fails the invocation, as a function error."""
    if not result.ok or len(result.payload) <= RESPONSE_SIZE_LIMIT:
        return result
    error = response_too_large_error()
    return AttemptResult(False, _dumps(error), error, result.duration_ms, logs=result.logs)


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        # Put back only what differs: setting every variable again costs a system call each.
        current = dict(os.environ)
        for name in current.keys() - saved.keys():
            del os.environ[name]
        for name, value in saved.items():
            if current.get(name) != value:
                os.environ[name] = value


@contextmanager
def _activated(sandbox: _Sandbox) -> Iterator[None]:
    """Put the sandbox's folders first on `sys.path` and its own modules in
    `sys.modules`; afterwards take back every module loaded from its folders and
    restore what was there before."""
    saved_path = list(sys.path)
    stashed: dict[str, ModuleType] = {}
    # Anything from these folders that is not this sandbox's own copy (the test
    # process's, say) steps aside for the call.
    for name, module in _unchecked(sandbox):
        if sandbox.modules.get(name) is module:
            continue
        if sandbox.owns_entry(name, module):
            stashed[name] = sys.modules.pop(name)
        else:
            sandbox.foreign[name] = module
    for name, module in sandbox.modules.items():
        previous = sys.modules.get(name)
        if previous is not None and previous is not module:
            stashed[name] = previous
        sys.modules[name] = module
    own: list[tuple[str, Any]] = list(sandbox.modules.items())
    sys.path[:0] = [root.rstrip(os.sep) for root in sandbox.roots]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sandbox.modules.clear()
        for name, module in own + _unchecked(sandbox):
            if sys.modules.get(name) is not module:
                continue
            if sandbox.owns_entry(name, module):
                sandbox.modules[name] = sys.modules.pop(name)
            else:
                sandbox.foreign[name] = module
        handler_module = sys.modules.pop(sandbox.module_name, None)
        if handler_module is not None:
            sandbox.modules[sandbox.module_name] = handler_module
        sys.modules.update(stashed)


def _unchecked(sandbox: _Sandbox) -> list[tuple[str, Any]]:
    """Entries of `sys.modules` the sandbox has not yet seen as foreign: new names, and
    names now bound to another module. A set difference runs at C speed, where
    checking a thousand entries one by one around every call would not."""
    try:
        return list(sys.modules.items() - sandbox.foreign.items())
    except TypeError:  # an unhashable object in sys.modules: check everything
        return list(sys.modules.items())
