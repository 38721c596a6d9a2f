"""Running functions in Lambda runtime containers with `sam local`.

`SamLocalExecutor` is the `Executor` that sends each attempt to `sam local
start-lambda` (one warm container per function, the Lambda runtime interface
emulator enforcing the timeout) instead of running the handler in this process.
Functions in containers cannot reach this machine's loopback, so they need an
endpoint they can reach: `MotoContainer` (container_engine.py) runs moto as a
container on the same network, published on a loopback port for the runner's own calls."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from asyncrun.errors import SamLocalError
from asyncrun.runtimes.container_engine import NETWORK, docker_client, find_docker_host, wait_http

# Re-exported: the command line and the tests take these from here.
from asyncrun.runtimes.container_engine import PROVISION_HINT as PROVISION_HINT
from asyncrun.runtimes.container_engine import MotoContainer as MotoContainer
from asyncrun.runtimes.container_engine import engine_problem as engine_problem
from asyncrun.runtimes.inprocess import AttemptResult
from asyncrun.runtimes.samlocal import ENDPOINT_VARIABLE, LocalTemplate, cache_dir_for, derive
from asyncrun.service.logs import CloudWatchLogWriter, log_stream_name
from asyncrun.service.records import timeout_error_payload
from asyncrun.stack.endpoint import LOCAL_CREDENTIALS
from asyncrun.stack.model import FunctionSpec, Stack

log = logging.getLogger(__name__)

# The runtime interface emulator answers a timed-out invoke with this text, not JSON.
_RIE_TIMEOUT = re.compile(r"Task timed out after (\d+(?:\.\d+)?) seconds")
# The emulator frames each invocation's output as Lambda does.
_RIE_START = re.compile(r"START RequestId: ([0-9a-fA-F-]{36})")
_RIE_REPORT = re.compile(r"REPORT RequestId: [^\n]*")
_REPORT_WAIT = 2.0  # seconds the REPORT line may follow the answer
_REQUEST_ID_PREFIX = re.compile(r"^RequestId: ([0-9a-fA-F-]{36}) ")
# Room above a function's Timeout for a cold start (first use builds the function's image).
_COLD_START_ALLOWANCE = 300.0
_STOP_GRACE = 20.0


# ---------------------------------------------------------------------- sam
def sam_command(*args: str) -> list[str]:
    """`sam` from this interpreter's environment."""
    return [sys.executable, "-m", "samcli", *args]


def sam_environment(docker_host: str, region: str, endpoint_url: str) -> dict[str, str]:
    """The environment for sam: only what it needs. SAM lets a variable of its own
    environment override a function's declared variable of the same name, so nothing
    else of this process's environment may leak into the functions.

    `endpoint_url` (the local endpoint, as this machine reaches it) answers the STS
    call `sam local` makes to learn the account id, which would otherwise go to AWS
    (and, with no network, wait for its retries)."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    # sam build looks for python3.13 (with pip) on PATH: this interpreter's folder first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env.update(LOCAL_CREDENTIALS)
    env.update({"AWS_DEFAULT_REGION": region, "AWS_REGION": region, "SAM_CLI_TELEMETRY": "0"})
    env["AWS_ENDPOINT_URL_STS"] = endpoint_url
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


def sam_build(
    local: LocalTemplate,
    *,
    build_dir: Path,
    cache_dir: Path,
    env: Mapping[str, str],
    parameter_overrides: Mapping[str, str] | None = None,
    output: IO[str] | None = None,
) -> Path:
    """`sam build` of the derived template into `build_dir`, reusing `cache_dir`
    between runs; returns the built template."""
    command = sam_command(
        "build",
        "--template-file",
        str(local.path),
        "--build-dir",
        str(build_dir),
        "--cached",
        "--cache-dir",
        str(cache_dir),
        *local.override_args(parameter_overrides),
    )
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter running sam
        command, cwd=local.path.parent, env=dict(env), capture_output=True, text=True, check=False
    )
    if output is not None:
        output.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise SamLocalError(f"sam build of {local.source} failed (exit {done.returncode}):\n{tail}")
    log.debug("sam build of %s took %.1f s", local.source, time.monotonic() - started)
    return build_dir / "template.yaml"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parameter_text(value: Any) -> str:
    """A parameter value as sam takes it (a list parameter as comma-separated text)."""
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


class SamLocalExecutor:
    """Runs each attempt in the function's Lambda runtime container through `sam
    local start-lambda` (one per executor, started by `start()`, stopped by
    `close()`).

    `endpoint_url` is the AWS endpoint as this machine reaches it (sam asks it for the
    account id); `function_endpoint_url` is the same endpoint as the functions in
    containers reach it, and becomes their declared `AWS_ENDPOINT_URL`. Each function
    also gets its template environment as asyncrun resolved it (sam cannot resolve
    `!GetAtt` of resources it does not create), and its physical name as
    `AWS_LAMBDA_FUNCTION_NAME` (the emulator builds the invoked ARN from it).
    Attempts run one at a time (each one's log is cut out of start-lambda's output).

    A template whose functions have dependencies to install (a layer with a
    `BuildMethod`, a `requirements.txt`) is built first, into a temporary folder,
    with sam's build cache kept beside the template (`.aws-sam/asyncrun/`)."""

    isolates_concurrent_attempts = False

    def __init__(
        self,
        stack: Stack,
        *,
        endpoint_url: str,
        function_endpoint_url: str,
        docker_host: str | None = None,
        network: str = NETWORK,
        cache_root: Path | None = None,
        warm_containers: str = "LAZY",
        output: IO[str] | None = None,
    ) -> None:
        self.stack = stack
        self.endpoint_url = endpoint_url
        self.function_endpoint_url = function_endpoint_url
        self.docker_host = find_docker_host() if docker_host is None else docker_host
        self.network = network
        self.cache_root = cache_root or stack.template_path.parent / ".aws-sam" / "asyncrun"
        self.warm_containers = warm_containers
        self.output = output  # where `sam build` speaks; start-lambda writes to a file in the work folder
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._work: tempfile.TemporaryDirectory[str] | None = None
        self._log_path: Path | None = None
        self._started_at = 0.0
        self._client: Any = None
        self._logs: CloudWatchLogWriter | None = None
        self._streams: dict[str, str] = {}  # a log stream per function, as one warm container each
        self._warm_after_reset: set[str] = set()
        self._run_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, ready_timeout: float = 180.0) -> SamLocalExecutor:
        if self._process is not None:
            return self
        self._work = tempfile.TemporaryDirectory(prefix="asyncrun-sam-local-")
        work = Path(self._work.name)
        try:
            self._start(work, ready_timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, work: Path, ready_timeout: float) -> None:
        identity = {
            logical_id: {"AWS_LAMBDA_FUNCTION_NAME": spec.name, "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group}
            for logical_id, spec in self.stack.functions.items()
        }
        local = derive(
            self.stack.template_path,
            work / "derived",
            endpoint_url=self.function_endpoint_url,
            variables=identity,
        )
        env = sam_environment(self.docker_host, self.stack.region, self.endpoint_url)
        overrides = self._parameter_overrides(local)
        template = local.path
        if local.needs_build:
            cache = cache_dir_for(self.stack.template_path, self.cache_root)
            template = sam_build(
                local,
                build_dir=work / "build",
                cache_dir=cache / "cache",
                env=env,
                parameter_overrides=overrides,
                output=self.output,
            )
        env_vars = work / "env.json"
        env_vars.write_text(json.dumps(self.environment_overrides(), indent=1))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = sam_command(
            "local",
            "start-lambda",
            "--template-file",
            str(template),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--env-vars",
            str(env_vars),
            "--warm-containers",
            self.warm_containers,
            "--docker-network",
            self.network,
            "--skip-pull-image",
            "--region",
            self.stack.region,
            *local.override_args(overrides),
        )
        self._log_path = work / "sam-local.log"
        # Always to a file: each attempt's log is cut out of it (START to REPORT) and kept
        # as Lambda keeps it (the trace, -v, CloudWatch Logs).
        sink: IO[Any] = self._log_path.open("wb")
        self._started_at = time.time()
        log.debug("starting sam local start-lambda for %s on %s", self.stack.template_path, self.url)
        # Its own session: a Ctrl-C at the terminal reaches this process only, which
        # then stops sam in order (SIGTERM: sam removes its warm containers).
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter running sam
            command,
            cwd=template.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sink.close()
        try:
            wait_http(self.url, ready_timeout, what="sam local start-lambda", process=self._process)
        except SamLocalError as error:
            raise SamLocalError(f"{error}{self._log_tail()}") from None

    def _parameter_overrides(self, local: LocalTemplate) -> dict[str, str]:
        """The stack's parameter values that differ from the template's defaults (so a
        user's `--parameter-overrides` reach sam), and the host's architecture."""
        from asyncrun.stack.template import read_template

        declared = read_template(self.stack.template_path).get("Parameters") or {}
        overrides = {}
        for name, value in self.stack.parameters.items():
            default = (declared.get(name) or {}).get("Default")
            text = _parameter_text(value)
            if default is None or _parameter_text(default) != text:
                overrides[name] = text
        for name, value in local.parameter_overrides.items():
            if name in overrides and overrides[name] != value:
                log.info("%s=%s: local containers run the host's %s instead", name, overrides[name], value)
            overrides[name] = value
        return overrides

    def environment_overrides(self) -> dict[str, dict[str, str]]:
        """The `--env-vars` file: per function, its resolved environment and endpoint."""
        return {
            logical_id: {**spec.environment, ENDPOINT_VARIABLE: self.function_endpoint_url}
            for logical_id, spec in self.stack.functions.items()
        }

    def reset(self, function: FunctionSpec) -> None:
        """sam keeps one warm container per function and has no way to replace just one:
        the next attempt runs warm, where Lambda's starts cold (a gap of this executor,
        said once per function)."""
        if function.logical_id not in self._warm_after_reset:
            self._warm_after_reset.add(function.logical_id)
            log.warning(
                "%s: its next attempt runs in sam's warm container, where Lambda would start a fresh "
                "execution environment (sam local cannot replace one function's container)",
                function.logical_id,
            )

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            self._stop(process)
        if self._work is not None:
            with contextlib.suppress(OSError):
                self._work.cleanup()
            self._work = None
        self._client = None

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_GRACE)
                return
            except subprocess.TimeoutExpired:
                log.warning("sam local start-lambda did not stop within %.0f s; killing it", _STOP_GRACE)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Warm containers sam could not remove itself (it was killed, or crashed)."""
        with contextlib.suppress(Exception):
            client = docker_client(self.docker_host)
            for container in client.containers.list(
                all=True, filters={"label": "sam.cli.container.type=lambda", "network": self.network}
            ):
                created = container.attrs.get("Created", "")
                if _created_after(created, self._started_at):
                    log.debug("removing leftover container %s", container.name)
                    container.remove(force=True)

    def __enter__(self) -> SamLocalExecutor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.is_file():
            return ""
        lines = self._log_path.read_text(errors="replace").strip().splitlines()[-15:]
        return ("\nsam said:\n" + "\n".join(lines)) if lines else ""

    # ------------------------------------------------------------------ attempts
    def _lambda(self, read_timeout: float) -> Any:
        from botocore.config import Config

        config = Config(read_timeout=read_timeout, connect_timeout=10, retries={"max_attempts": 0})
        return self._local_client("lambda", self.url, config)

    def _local_client(self, service: str, url: str, config: Any = None) -> Any:
        """A client with the local credentials: start-lambda's, or the endpoint's."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]  # one method for the services used here
            service,
            endpoint_url=url,
            region_name=self.stack.region,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
            config=config,
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
        with self._run_lock:
            return self._run(function, version, payload, request_id, timeout)

    def release(self, request_id: str) -> None:
        """Containers are not held: each function has one."""

    def caller(self, environment_id: str) -> str | None:
        """Its functions reach the endpoint directly, never through the loopback front."""
        return None

    def _run(
        self, function: FunctionSpec, version: str, payload: bytes, request_id: str, timeout: float
    ) -> AttemptResult:
        if self._process is None:
            raise SamLocalError("the sam-local executor is not started")
        if self._client is None:
            longest = max((spec.timeout for spec in self.stack.functions.values()), default=3)
            self._client = self._lambda(longest + _COLD_START_ALLOWANCE)
        started = time.monotonic()
        offset = self._log_path.stat().st_size if self._log_path is not None else 0
        try:
            response = self._client.invoke(
                FunctionName=function.logical_id, InvocationType="RequestResponse", Payload=payload
            )
        except Exception as error:
            raise SamLocalError(
                f"sam local could not run {function.logical_id}: {error}{self._log_tail()}"
            ) from None
        body: bytes = response["Payload"].read()
        duration_ms = (time.monotonic() - started) * 1000
        result = attempt_result(body, request_id=request_id, timeout=timeout, duration_ms=duration_ms)
        result.logs = self._attempt_log(offset, request_id)
        if result.logs:
            self._write_log(function, version, result.logs)
        return result

    def _attempt_log(self, offset: int, request_id: str) -> str | None:
        """The attempt's lines of start-lambda's output, from START to REPORT, with the
        engine's request id in place of the emulator's (**unverified**: the emulator's
        framing is taken as Lambda's). The REPORT line may follow the answer: it is
        waited for briefly; without it, what the attempt printed is kept as it is."""
        if self._log_path is None:
            return None
        deadline = time.monotonic() + _REPORT_WAIT
        while True:
            with self._log_path.open("rb") as output:
                output.seek(offset)
                text = output.read().decode("utf-8", errors="replace")
            start = text.rfind("START RequestId: ")
            report = _RIE_REPORT.search(text, max(start, 0))
            if (start >= 0 and report) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if start < 0:
            return None
        end = report.end() if report else len(text)
        block = text[start:end].strip("\n")
        emulator_id = _RIE_START.match(block)
        if emulator_id:
            block = block.replace(emulator_id.group(1), request_id)
        return block + "\n"

    def _write_log(self, function: FunctionSpec, version: str, logs: str) -> None:
        if self._logs is None:
            self._logs = CloudWatchLogWriter(self._local_client("logs", self.endpoint_url))
        stream = self._streams.setdefault(function.name, log_stream_name(version))
        now = int(time.time() * 1000)
        self._logs.write(function.log_group, stream, [(now, line) for line in logs.splitlines()])


def attempt_result(body: bytes, *, request_id: str, timeout: float, duration_ms: float) -> AttemptResult:
    """What a start-lambda answer means. sam never sets `FunctionError` for Python
    runtimes (the runtime's error object has a `requestId`, which sam's check does not
    expect), so an error is recognised by its shape: `errorType` and `errorMessage`.
    A timeout is the emulator's plain-text answer."""
    text = body.decode("utf-8", errors="replace").strip()
    if _RIE_TIMEOUT.fullmatch(text):
        error = timeout_error_payload(request_id, timeout)
        return AttemptResult(False, _dumps(error), error, duration_ms, timed_out=True)
    try:
        value = json.loads(body) if body else None
    except ValueError:
        value = None
    if isinstance(value, dict) and "errorType" in value and "errorMessage" in value:
        error = with_request_id(value, request_id)
        return AttemptResult(False, _dumps(error), error, duration_ms)
    return AttemptResult(True, body, None, duration_ms)


def with_request_id(error: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The error object with the engine's request id in place of the emulator's.

    start-lambda's emulator makes up a request id for every call, while Lambda keeps
    one request id for every attempt of an event; the record and the trace must show
    the engine's. The error object keeps its keys and their order; only the id
    changes, in `requestId` and in a `RequestId: <id> ...` message prefix."""
    theirs = {str(error["requestId"])} if error.get("requestId") else set()
    message = str(error.get("errorMessage", ""))
    prefix = _REQUEST_ID_PREFIX.match(message)
    if prefix:
        theirs.add(prefix.group(1))
    fixed = dict(error)
    if "requestId" in fixed:
        fixed["requestId"] = request_id
    for other in theirs:
        fixed["errorMessage"] = str(fixed["errorMessage"]).replace(other, request_id)
    return fixed


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _created_after(created: str, epoch: float) -> bool:
    """Docker's `Created` (RFC 3339, nanoseconds) is at or after `epoch`."""
    from datetime import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", created)
    if not match:
        return False
    stamp = datetime.fromisoformat(match.group(1) + match.group(2).replace("Z", "+00:00"))
    return stamp.timestamp() >= epoch - 1
