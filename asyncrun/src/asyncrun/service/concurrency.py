"""Concurrency as Lambda counts it: a function runs at most `ReservedConcurrentExecutions`
environments at once when it has a reservation; the others share what the account's
limit leaves unreserved. An attempt holds its slot from its start until its end, on the
engine's clock (docs/async-semantics.md, "Concurrency")."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from asyncrun.errors import CommandError, TemplateError
from asyncrun.stack.model import FunctionSpec, Stack

DEFAULT_ACCOUNT_CONCURRENCY = 1000
# Lambda keeps this much of the account's limit for functions without a reservation.
MINIMUM_UNRESERVED = 100

# On the virtual clock an attempt holds its slot for its measured duration rounded up to
# the next 100 ms (asyncrun's choice, not the service's): attempts that took about the same
# time end at the same instant, in the order they started, so a run's order does not
# depend on a few milliseconds of jitter.
SLOT_RESOLUTION_MS = 100

ThrottleReason = Literal[
    "ReservedFunctionConcurrentInvocationLimitExceeded", "ConcurrentInvocationLimitExceeded"
]
RESERVED_LIMIT: ThrottleReason = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT: ThrottleReason = "ConcurrentInvocationLimitExceeded"


def virtual_duration(duration_ms: float) -> float:
    """Seconds an attempt that ran `duration_ms` occupies on the virtual clock."""
    return math.ceil(duration_ms / SLOT_RESOLUTION_MS) * SLOT_RESOLUTION_MS / 1000


@dataclass(frozen=True)
class Slot:
    function: str
    reserved: bool
    end: float
    token: int


class Concurrency:
    """Who runs now. `acquire` takes a slot until `end` or names the limit that is
    reached; `release` gives it back when the attempt's end is processed."""

    def __init__(self, stack: Stack, account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY) -> None:
        if account_concurrency < 1:
            raise CommandError(f"the account's concurrency must be at least 1, not {account_concurrency}")
        reserved = {
            spec.name: spec.reserved_concurrency
            for spec in stack.functions.values()
            if spec.reserved_concurrency is not None
        }
        total = sum(reserved.values())
        # Lambda refuses a reservation that leaves fewer than 100 unreserved (for an account
        # whose limit is under 100, any reservation above 0: **unverified**).
        if total > 0 and total > account_concurrency - MINIMUM_UNRESERVED:
            names = ", ".join(f"{name} ({n})" for name, n in sorted(reserved.items()) if n)
            raise TemplateError(
                f"ReservedConcurrentExecutions total {total} ({names}) leaves the account's "
                f"unreserved concurrency below its minimum of {MINIMUM_UNRESERVED} "
                f"(account concurrency {account_concurrency}; change it with --account-concurrency)"
            )
        self.account = account_concurrency
        self.unreserved = account_concurrency - total
        self._slots: dict[int, Slot] = {}
        self._tokens = itertools.count()

    def acquire(self, spec: FunctionSpec, start: float, end: float) -> Slot | ThrottleReason:
        """A slot from `start` to `end`, or the reason Lambda gives for throttling."""
        reserved = spec.reserved_concurrency is not None
        if reserved:
            if self.running(spec.name, start) >= (spec.reserved_concurrency or 0):
                return RESERVED_LIMIT
        elif self._running_unreserved(start) >= self.unreserved:
            return ACCOUNT_LIMIT
        slot = Slot(spec.name, reserved, end, next(self._tokens))
        self._slots[slot.token] = slot
        return slot

    def extend(self, slot: Slot, end: float) -> Slot:
        """The slot held until `end` (known once the attempt has run)."""
        longer = Slot(slot.function, slot.reserved, end, slot.token)
        self._slots[slot.token] = longer
        return longer

    def release(self, slot: Slot) -> None:
        self._slots.pop(slot.token, None)

    def running(self, function: str, at: float) -> int:
        """Attempts of `function` holding a slot at `at` (the one starting at `at` excluded)."""
        return sum(1 for s in self._slots.values() if s.function == function and s.end > at)

    def _running_unreserved(self, at: float) -> int:
        return sum(1 for s in self._slots.values() if not s.reserved and s.end > at)
