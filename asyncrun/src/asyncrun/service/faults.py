"""Faults injected into asynchronous invocation, to exercise the failure paths of a
stack without changing its code.

- `error`: the attempt fails as an `Unhandled` function error; the handler is not run.
- `timeout`: the attempt fails as a timed-out one does (`Sandbox.Timedout`), after the
  function's whole `Timeout` on the clock; the handler is not run.
- `crash`: the attempt fails as one whose runtime process exited does
  (`Runtime.ExitError`, exit status 1); the handler is not run.
  After either, the function's execution environment is discarded, as Lambda does: its
  next attempt starts cold.
- `throttle`: the attempt is throttled (429): backoff, no retry attempt used.
- `duplicate`: when the event is accepted it is queued a second time with the same
  request id, as Lambda's at-least-once queue may do (**unverified** that a duplicate
  keeps the request id; the documentation only says the same event can arrive twice).

`FUNCTION:aws:SERVICE[.OPERATION]:KIND[:PROBABILITY][:TIMES]` is a fault in the AWS calls
the function makes (`asyncrun.stack.call_faults`), answered at the loopback endpoint.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

from asyncrun.stack.call_faults import (
    CALL_FAULT_KINDS,
    CallFault,
    CallFaultTable,
    check_chance,
    draws,
    parse_chance,
)

log = logging.getLogger(__name__)

FaultKind = Literal["error", "timeout", "crash", "throttle", "duplicate"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
FAULT_SYNTAX = (
    "FUNCTION:KIND[:PROBABILITY][:TIMES] or FUNCTION:aws:SERVICE[.OPERATION]:KIND[:PROBABILITY][:TIMES]"
)
FAULTS_HELP = (
    f"function kinds: {', '.join(FAULT_KINDS)}; AWS call kinds: {', '.join(CALL_FAULT_KINDS)} "
    "(e.g. ProcessFunction:aws:dynamodb:throttle, UploadFunction:aws:s3.GetObject:error:1.0:3)"
)

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
        check_chance(self.probability, self.times)

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`FUNCTION:KIND[:PROBABILITY][:TIMES]`, e.g. `ProcessFunction:error:0.5:3`."""
        parts = text.split(":")
        if len(parts) < 2 or len(parts) > 4 or not parts[0]:
            raise ValueError(f"fault {text!r} is not FUNCTION:KIND[:PROBABILITY][:TIMES]")
        function, kind = parts[0], parts[1]
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault {text!r}: kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        probability, times = parse_chance(parts[2:], text)
        return cls(function, cast(FaultKind, kind), probability, times)

    def targets(self, logical_id: str, name: str) -> bool:
        return self.function in (logical_id, name)


AnyFault = Fault | CallFault


def parse_fault(text: str) -> AnyFault:
    """A `--fault` text: a function-level `Fault`, or with `:aws:` a `CallFault`."""
    function, separator, rest = text.partition(":aws:")
    if separator and function and ":" not in function:
        return CallFault.parse(function, rest)
    return Fault.parse(text)


class FaultInjector:
    """Decides, with a seeded generator, which faults trigger for an attempt; faults in
    AWS calls go to `calls`, the loopback endpoint's table (None: calls are not seen,
    and such a fault is named in a warning), with their function resolved by `resolve`
    to the physical name the endpoint sees."""

    def __init__(
        self,
        faults: Sequence[AnyFault] = (),
        seed: int | None = None,
        *,
        calls: CallFaultTable | None = None,
        resolve: Callable[[str], str] = str,
    ) -> None:
        self.faults: list[Fault] = []
        self._random = random.Random(seed)
        self._calls = calls
        self._resolve = resolve
        if calls is not None:  # the endpoint outlives engines: the latest one's faults apply
            calls.reset(seed)
        for fault in faults:
            self.add(fault)

    def add(self, fault: AnyFault) -> None:
        if isinstance(fault, Fault):
            self.faults.append(fault)
            return
        fault.function = self._resolve(fault.function)
        if self._calls is None:
            log.warning(
                "fault %s:aws:%s:%s is not injected: faults in AWS calls need the embedded endpoint "
                "(not --endpoint-url), whose loopback front answers the functions' calls",
                fault.function,
                fault.service if fault.operation is None else f"{fault.service}.{fault.operation}",
                fault.kind,
            )
            return
        self._calls.add(fault)

    def trigger(self, kind: FaultKind, *, logical_id: str, name: str, payload: str) -> Fault | None:
        """The first fault of `kind` that applies, counted as triggered; None when none does."""
        for fault in self.faults:
            if fault.kind != kind or not fault.targets(logical_id, name):
                continue
            if fault.times is not None and fault.triggered >= fault.times:
                continue
            if fault.match is not None and fault.match not in payload:
                continue
            if draws(fault.probability, self._random):
                fault.triggered += 1
                return fault
        return None
