"""How an execution environment's process starts: forked from a template process that
has the runtime's libraries imported already (Linux), or spawned afresh."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

from asyncrun.runtimes.worker import PRELOADED

# The folder holding the `asyncrun` package, for the worker's own imports.
RUNNER_ROOT = str(Path(__file__).resolve().parents[2])
# Forking environments from a template process needs SEQPACKET sockets and fd passing.
FORKS_FROM_TEMPLATE = sys.platform.startswith("linux")


class EnvironmentProcess(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class TemplateProcess:
    """The template process (`asyncrun.runtimes.worker --zygote`): forks environments that start
    with the runtime's libraries already imported. Linux only (a SEQPACKET socket
    carries each request and its pipes)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._channel = ours
        # Environments start and end on several threads: a request and its answer
        # must not interleave with another thread's.
        self._channel_lock = threading.Lock()
        env = {**process_essentials(), "PYTHONPATH": RUNNER_ROOT}
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, running asyncrun's worker
            [sys.executable, "-u", "-m", "asyncrun.runtimes.worker", "--zygote", str(theirs.fileno())],
            cwd=RUNNER_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()

    def spawn(self, env: dict[str, str], cwd: str, layers: list[str], fds: list[int]) -> ForkedProcess:
        request = json.dumps({"kind": "spawn", "env": env, "cwd": cwd, "layers": layers}).encode()
        with self._channel_lock:
            socket.send_fds(self._channel, [request], fds)
            pid = int(self._ask()["pid"])
        return ForkedProcess(self, pid)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        with self._channel_lock:
            self._channel.sendall(json.dumps({"kind": "wait", "pid": pid, "timeout": timeout}).encode())
            code = self._ask()["code"]
        return None if code is None else int(code)

    def _ask(self) -> dict[str, Any]:
        answer = self._channel.recv(65536)
        if not answer:
            raise OSError("the environments' template process ended")
        return dict(json.loads(answer))

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._channel.close()
        with contextlib.suppress(Exception):
            self._process.wait(timeout=5)


class ForkedProcess:
    """An environment forked by the template process (its child, not ours)."""

    def __init__(self, zygote: TemplateProcess, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid, 0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid, 3600.0 if timeout is None else timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(f"environment {self.pid}", timeout or 0.0)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def brings_preloaded(task_root: str, layers: list[str]) -> bool:
    """Whether the function's code or a layer has its own copy of a preloaded library
    (it must import that copy, not the template process's)."""
    for root in (task_root, *layers):
        for name in PRELOADED:
            if (Path(root) / name).is_dir() or (Path(root) / f"{name}.py").is_file():
                return True
    return False


def process_essentials() -> dict[str, str]:
    """What the process needs beyond Lambda's variables: a PATH for subprocesses, the
    runner's package for the worker itself (removed from the function's `sys.path` once
    loaded), and no AWS configuration files, so no profile of the user's is ever read."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "PYTHONPATH": RUNNER_ROOT,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


_zygotes: list[TemplateProcess] = []  # one template process for the whole run, started when first needed
_zygote_lock = threading.Lock()


def template_process() -> TemplateProcess:
    with _zygote_lock:
        if _zygotes and not _zygotes[0].alive():
            _zygotes.pop().close()
        if not _zygotes:
            _zygotes.append(TemplateProcess())
            if len(_zygotes) == 1:
                atexit.register(close_template_process)
        return _zygotes[0]


def close_template_process() -> None:
    with _zygote_lock:
        while _zygotes:
            _zygotes.pop().close()
