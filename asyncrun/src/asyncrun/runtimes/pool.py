"""The execution environments of every function version: which are warm and free,
which run an attempt and for which request.

An attempt takes a free warm environment of its function version or starts a new one
(a cold start); several attempts of one function run at once, each in an environment
of its own, as on Lambda. The lock guards this bookkeeping only, never a running
attempt. An environment that timed out, crashed or went over its memory is not given
back, and `reset` (Lambda discarding a function's environments after an injected
timeout or crash) kills the free ones and marks the others so they are killed when
their attempt ends rather than reused.

A machine is not Lambda's fleet: a function version has at most `MAX_ENVIRONMENTS`
environments (a process each; `--max-environments` changes it). Beyond that an attempt
shares one: on the virtual clock, of those held by attempts that overlap it only in
virtual time (their code has run), the one that ran last; in wall time the next that
comes free. The executor says so when it happens."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import IO, Any

from asyncrun.runtimes.processes import EnvironmentProcess
from asyncrun.stack.model import FunctionSpec

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Environments per function version at most (asyncrun's limit, not Lambda's: each is a
# process of this machine). Beyond it attempts share them, and the run says so.
MAX_ENVIRONMENTS = 8


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
    def __init__(self, max_environments: int = MAX_ENVIRONMENTS) -> None:
        self.max_environments = max_environments
        self._changed = threading.Condition()  # an environment came free or went
        self._every: dict[str, Environment] = {}  # environment id -> every live environment
        self._running: dict[str, str] = {}  # environment id -> the request it runs now
        self._holders: dict[str, list[str]] = {}  # environment id -> requests it is kept for
        self._starting: dict[str, str] = {}  # environment id -> slot, until started or failed
        self._generations: dict[str, int] = {}  # function logical id -> resets so far
        self._returns = itertools.count()
        self._returned: dict[str, int] = {}  # environment id -> when its last run ended (an order)

    def generation(self, function: FunctionSpec) -> int:
        with self._changed:
            return self._generations.get(function.logical_id, 0)

    def take(
        self, slot: str, key: tuple[Any, ...], request_id: str
    ) -> tuple[Environment | str, list[Environment], bool]:
        """An environment of `slot` made from `key`, now running `request_id` (or the id
        of one to start, then `started` or `forget`), the idle ones made from another
        definition (to kill), and whether it is shared (past `max_environments`)."""
        with self._changed:
            stale = [
                e
                for e in self._every.values()
                if e.slot == slot and (e.key != key or not self._current(e)) and self._idle(e)
            ]
            for environment in stale:
                del self._every[environment.id]
            shared = False
            while True:
                mine = [
                    e for e in self._every.values() if e.slot == slot and e.key == key and self._current(e)
                ]
                free = [e for e in mine if self._idle(e)]
                if free:
                    taken: Environment | str = free[-1]
                    break
                if len(mine) + sum(1 for s in self._starting.values() if s == slot) < self.max_environments:
                    taken = new_environment_id()
                    self._starting[taken] = slot
                    self._running[taken] = request_id
                    break
                shared = True
                held = [e for e in mine if e.id not in self._running]
                if held:  # its attempt's code has run: it waits only for its end in virtual time
                    # Past the limit the environments are shared anyway: the one that ran last
                    # is the cheapest to run again (its memory still in the CPU's caches);
                    # going round all of them cost about a fifth more a warm attempt.
                    taken = max(held, key=lambda e: self._returned.get(e.id, -1))
                    break
                self._changed.wait()
            if isinstance(taken, Environment):
                self._running[taken.id] = request_id
            return taken, stale, shared

    def started(self, environment: Environment) -> None:
        with self._changed:
            self._starting.pop(environment.id, None)
            self._every[environment.id] = environment

    def give_back(self, environment: Environment, alive: bool, *, hold: str | None = None) -> bool:
        """The attempt's run has ended: the environment is free again (or kept for the
        request `hold` until `release`), or (False) to be killed."""
        with self._changed:
            self._running.pop(environment.id, None)
            self._returned[environment.id] = next(self._returns)
            self._changed.notify_all()
            if alive and self._current(environment):
                if hold is not None:
                    self._holders.setdefault(environment.id, []).append(hold)
                return True
            self._forget(environment.id)
            return False

    def release(self, request_id: str) -> list[Environment]:
        """Free one environment held for the request; what is returned is to be killed."""
        with self._changed:
            for environment_id, holders in self._holders.items():
                if request_id in holders:
                    holders.remove(request_id)
                    if not holders:
                        del self._holders[environment_id]
                    environment = self._every[environment_id]
                    self._changed.notify_all()
                    if self._current(environment) or not self._idle(environment):
                        return []
                    self._forget(environment_id)
                    return [environment]
            return []

    def forget(self, environment_id: str) -> None:
        with self._changed:
            self._forget(environment_id)
            self._changed.notify_all()

    def _forget(self, environment_id: str) -> None:
        self._starting.pop(environment_id, None)
        self._running.pop(environment_id, None)
        self._holders.pop(environment_id, None)
        self._every.pop(environment_id, None)
        self._returned.pop(environment_id, None)

    def request_of(self, environment_id: str) -> str | None:
        with self._changed:
            return self._running.get(environment_id)

    def reset(self, function: FunctionSpec) -> list[Environment]:
        """The function's idle environments (to kill); the others are not reused."""
        with self._changed:
            self._generations[function.logical_id] = self._generations.get(function.logical_id, 0) + 1
            doomed = [
                e
                for e in self._every.values()
                if e.function.logical_id == function.logical_id and self._idle(e)
            ]
            for environment in doomed:
                self._forget(environment.id)
            self._changed.notify_all()
            return doomed

    def kill_all(self) -> None:
        """Every environment, running ones included (the run is over)."""
        with self._changed:
            every = list(self._every.values())
            self._every.clear()
            self._running.clear()
            self._holders.clear()
            self._starting.clear()
            self._returned.clear()
            self._changed.notify_all()
        for environment in every:
            environment.kill()

    def _idle(self, environment: Environment) -> bool:
        """Neither running an attempt nor kept for one."""
        return environment.id not in self._running and environment.id not in self._holders

    def _current(self, environment: Environment) -> bool:
        """Not reset since it started, nor killed by `kill_all`."""
        generation = self._generations.get(environment.function.logical_id, 0)
        return environment.generation == generation and environment.id in self._every
