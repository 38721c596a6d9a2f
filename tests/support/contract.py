"""The contract between asyncrun and the functions: the invocation records the runner
delivers are what the layer's `InvocationRecord` model reads. The suites' conftests
`watch` each engine they make; tests/runner/front/test_contract.py, run after them,
validates every record those engines delivered."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

# The one import of the layer's model: when the model moves, change this line only.
from pipeline.models import InvocationRecord

if TYPE_CHECKING:
    from asyncrun.service.destinations import Delivery
    from asyncrun.service.engine import Engine

__all__ = ["InvocationRecord", "delivered_records", "watch"]

_WATCHED: list[list[Delivery]] = []  # each watched engine's deliveries, filled as it runs


def watch(engine: Engine) -> Engine:
    """Keep the engine's deliveries for the contract test (read at the session's end)."""
    _WATCHED.append(engine.deliveries)
    return engine


def delivered_records() -> list[dict[str, Any]]:
    """Every invocation record sent to a destination so far (dead-letter queues get the
    event, not a record, and are left out)."""
    return [
        json.loads(delivery.body)
        for deliveries in _WATCHED
        for delivery in deliveries
        if delivery.kind != "dead_letter"
    ]
