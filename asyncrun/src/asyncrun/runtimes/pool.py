"""The execution environments of every function version: which are warm and free,
which run an attempt and for which request.

An attempt takes a free warm environment of its function version or starts a new one
(a cold start); several attempts of one function run at once, each in an environment
of its own, as on Lambda. The lock guards this bookkeeping only, never a running
attempt. An environment that timed out, crashed or went over its memory is not given
back, and `reset` (Lambda discarding a function's environments after an injected
timeout or crash) kills the free ones and marks the running ones so they are killed
when their attempt ends rather than reused."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import IO, Any

from asyncrun.runtimes.processes import EnvironmentProcess
from asyncrun.stack.model import FunctionSpec

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def new_environment_id() -> str:
    """Hex only: it ends the environment's access key id, after a `.` (see call_faults)."""
    return uuid.uuid4().hex[:16]


@dataclass
class Environment:
    """One execution environment: a process, its pipes and its output so far."""

    id: str  # its access key id names it (`asyncrun.stack.call_faults`)
    slot: str  # the function version it belongs to: "<logical id>:<version>"
    generation: int  # its function's resets when it started (`EnvironmentPool.reset`)
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


class EnvironmentPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[str, list[Environment]] = {}  # slot -> warm environments, most recent last
        self._every: dict[str, Environment] = {}  # environment id -> every live environment
        self._requests: dict[str, str] = {}  # environment id -> the request it runs now
        self._held: dict[str, list[Environment]] = {}  # request id -> environments kept for it
        self._generations: dict[str, int] = {}  # function logical id -> resets so far

    def generation(self, function: FunctionSpec) -> int:
        with self._lock:
            return self._generations.get(function.logical_id, 0)

    def take(
        self, slot: str, key: tuple[Any, ...], request_id: str
    ) -> tuple[Environment | None, list[Environment]]:
        """A free warm environment of `slot` made from `key`, now running `request_id`
        (None: start one), and the free ones made from another definition (to kill)."""
        with self._lock:
            free = self._free.get(slot, [])
            stale = [e for e in free if e.key != key]
            warm = [e for e in free if e.key == key]
            taken = warm.pop() if warm else None
            self._free[slot] = warm
            for environment in stale:
                self._every.pop(environment.id, None)
            if taken is not None:
                self._requests[taken.id] = request_id
            return taken, stale

    def running(self, environment_id: str, request_id: str) -> None:
        """An environment being started for `request_id` (its init's calls are the request's)."""
        with self._lock:
            self._requests[environment_id] = request_id

    def started(self, environment: Environment) -> None:
        with self._lock:
            self._every[environment.id] = environment

    def give_back(self, environment: Environment, alive: bool, *, hold: str | None = None) -> bool:
        """The attempt's run has ended: the environment is free again (or kept for the
        request `hold` until `release`), or (False) to be killed."""
        with self._lock:
            self._requests.pop(environment.id, None)
            if alive and self._current(environment):
                if hold is not None:
                    self._held.setdefault(hold, []).append(environment)
                else:
                    self._free.setdefault(environment.slot, []).append(environment)
                return True
            self._every.pop(environment.id, None)
            return False

    def release(self, request_id: str) -> list[Environment]:
        """Free one environment held for the request; what is returned is to be killed."""
        with self._lock:
            held = self._held.get(request_id)
            if not held:
                return []
            environment = held.pop(0)
            if not held:
                del self._held[request_id]
            if self._current(environment):
                self._free.setdefault(environment.slot, []).append(environment)
                return []
            self._every.pop(environment.id, None)
            return [environment]

    def _current(self, environment: Environment) -> bool:
        """Not reset since it started, nor killed by `kill_all`."""
        generation = self._generations.get(environment.function.logical_id, 0)
        return environment.generation == generation and environment.id in self._every

    def forget(self, environment_id: str) -> None:
        with self._lock:
            self._requests.pop(environment_id, None)
            self._every.pop(environment_id, None)

    def request_of(self, environment_id: str) -> str | None:
        with self._lock:
            return self._requests.get(environment_id)

    def reset(self, function: FunctionSpec) -> list[Environment]:
        """The function's free environments (to kill); the running ones are not reused."""
        with self._lock:
            self._generations[function.logical_id] = self._generations.get(function.logical_id, 0) + 1
            doomed: list[Environment] = []
            for slot, free in self._free.items():
                mine = [e for e in free if e.function.logical_id == function.logical_id]
                if mine:
                    self._free[slot] = [e for e in free if e.function.logical_id != function.logical_id]
                    doomed.extend(mine)
            for environment in doomed:
                self._every.pop(environment.id, None)
            return doomed

    def kill_all(self) -> None:
        """Every environment, running ones included (the run is over)."""
        with self._lock:
            every = list(self._every.values())
            self._every.clear()
            self._free.clear()
            self._held.clear()
            self._requests.clear()
        for environment in every:
            environment.kill()
