"""The CloudWatch metrics Lambda publishes for asynchronous invocation, counted per
function (physical name)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

ASYNC_EVENTS_RECEIVED = "AsyncEventsReceived"
ASYNC_EVENT_AGE = "AsyncEventAge"
ASYNC_EVENTS_DROPPED = "AsyncEventsDropped"
DESTINATION_DELIVERY_FAILURES = "DestinationDeliveryFailures"
DEAD_LETTER_ERRORS = "DeadLetterErrors"
ERRORS = "Errors"
THROTTLES = "Throttles"
INVOCATIONS = "Invocations"
RECURSIVE_INVOCATIONS_DROPPED = "RecursiveInvocationsDropped"
# A gauge, not a counter: the most environments the function ran at once (the Maximum
# statistic CloudWatch shows for it).
CONCURRENT_EXECUTIONS = "ConcurrentExecutions"

COUNTERS = (
    ASYNC_EVENTS_RECEIVED,
    ASYNC_EVENTS_DROPPED,
    DESTINATION_DELIVERY_FAILURES,
    DEAD_LETTER_ERRORS,
    ERRORS,
    THROTTLES,
    INVOCATIONS,
    RECURSIVE_INVOCATIONS_DROPPED,
)


class Metrics:
    def __init__(self) -> None:
        self._counts: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._ages: defaultdict[str, list[float]] = defaultdict(list)
        self._peaks: dict[str, int] = {}

    def incr(self, function: str, metric: str, n: int = 1) -> None:
        if metric not in COUNTERS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(COUNTERS)}")
        self._counts[function][metric] += n

    def record_age(self, function: str, age_ms: float) -> None:
        self._ages[function].append(age_ms)

    def record_concurrency(self, function: str, running: int) -> None:
        self._peaks[function] = max(self._peaks.get(function, 0), running)

    def get(self, function: str, metric: str) -> int:
        if metric == CONCURRENT_EXECUTIONS:
            return self._peaks.get(function, 0)
        counts = self._counts.get(function)
        return counts.get(metric, 0) if counts is not None else 0

    def ages(self, function: str) -> list[float]:
        """`AsyncEventAge` samples (ms from queueing to each attempt), in order."""
        return list(self._ages.get(function, []))

    def functions(self) -> list[str]:
        return sorted(set(self._counts) | set(self._ages) | set(self._peaks))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for function in self.functions():
            entry: dict[str, Any] = {name: self.get(function, name) for name in COUNTERS}
            entry[CONCURRENT_EXECUTIONS] = self.get(function, CONCURRENT_EXECUTIONS)
            ages = self._ages.get(function, [])
            entry[ASYNC_EVENT_AGE] = {
                "count": len(ages),
                "min": min(ages) if ages else None,
                "max": max(ages) if ages else None,
                "avg": sum(ages) / len(ages) if ages else None,
            }
            out[function] = entry
        return out
