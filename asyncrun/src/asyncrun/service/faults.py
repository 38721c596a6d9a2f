"""Faults injected into asynchronous invocation, to exercise the failure paths of a
stack without changing its code.

- `error`: the attempt fails as an `Unhandled` function error; the handler is not run.
- `throttle`: the attempt is throttled (429): backoff, no retry attempt used.
- `duplicate`: when the event is accepted it is queued a second time with the same
  request id, as Lambda's at-least-once queue may do (**unverified** that a duplicate
  keeps the request id; the documentation only says the same event can arrive twice).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

FaultKind = Literal["error", "throttle", "duplicate"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

INJECTED_ERROR_TYPE = "InjectedFunctionError"


@dataclass
class Fault:
    function: str  # logical id or physical name
    kind: FaultKind
    probability: float = 1.0
    times: int | None = None  # how many times it may trigger; None = unlimited
    match: str | None = None  # substring of the event payload's JSON
    triggered: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability {self.probability} is not between 0 and 1")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times {self.times} is negative")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`FUNCTION:KIND[:PROBABILITY][:TIMES]`, e.g. `ProcessFunction:error:0.5:3`."""
        parts = text.split(":")
        if len(parts) < 2 or len(parts) > 4 or not parts[0]:
            raise ValueError(f"fault {text!r} is not FUNCTION:KIND[:PROBABILITY][:TIMES]")
        function, kind = parts[0], parts[1]
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault {text!r}: kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        try:
            probability = float(parts[2]) if len(parts) > 2 and parts[2] else 1.0
            times = int(parts[3]) if len(parts) > 3 and parts[3] else None
        except ValueError as exc:
            raise ValueError(f"fault {text!r}: {exc}") from None
        return cls(function, cast(FaultKind, kind), probability, times)

    def targets(self, logical_id: str, name: str) -> bool:
        return self.function in (logical_id, name)


class FaultInjector:
    """Decides, with a seeded generator, which faults trigger for an attempt."""

    def __init__(self, faults: Sequence[Fault] = (), seed: int | None = None) -> None:
        self.faults = list(faults)
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def trigger(self, kind: FaultKind, *, logical_id: str, name: str, payload: str) -> Fault | None:
        """The first fault of `kind` that applies, counted as triggered; None when none does."""
        for fault in self.faults:
            if fault.kind != kind or not fault.targets(logical_id, name):
                continue
            if fault.times is not None and fault.triggered >= fault.times:
                continue
            if fault.match is not None and fault.match not in payload:
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            fault.triggered += 1
            return fault
        return None
