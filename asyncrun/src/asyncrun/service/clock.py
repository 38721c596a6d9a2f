"""Clocks for the engine. The virtual clock jumps over waits, so a retry due 120 s
later costs no wall time; the real clock waits for real (`--realtime`)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""
        ...

    def advance_to(self, t: float) -> None:
        """Wait until `t` (no-op when `t` is past)."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def elapsed(self, seconds: float) -> None:
        """Account for `seconds` of real time spent running function code."""
        ...


class VirtualClock:
    """Starts at real now and moves only when told to: over waits, and by the real
    duration of each attempt (the code itself runs in real time)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        self._now = max(self._now, t)

    def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def elapsed(self, seconds: float) -> None:
        self.sleep(seconds)


class RealClock:
    def now(self) -> float:
        return time.time()

    def advance_to(self, t: float) -> None:
        self.sleep(t - time.time())

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def elapsed(self, seconds: float) -> None:
        """The time has already passed."""
