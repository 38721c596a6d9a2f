"""The seam between the service and the runtimes: the engine hands one attempt to an
`Executor` and gets an `AttemptResult` back. The runtimes (`asyncrun.runtimes`)
implement it; the service never imports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from asyncrun.stack.model import FunctionSpec


@dataclass
class AttemptResult:
    ok: bool
    payload: bytes  # the JSON the handler returned, or the error object's JSON
    error: dict[str, Any] | None = None  # the error object on failure
    duration_ms: float = 0.0
    logs: str | None = None
    timed_out: bool = False

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else str(self.error.get("errorType"))

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else str(self.error.get("errorMessage", ""))


class Executor(Protocol):
    """Runs attempts; owns the execution environments they run in. `run` may be called
    from several threads at once."""

    # Whether attempts that overlap get an environment each, as on Lambda (else they
    # share one, one after another, and the engine says so).
    isolates_concurrent_attempts: bool

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
        """Run one attempt. With `hold`, its environment stays the request's after the
        run, for no other attempt, until `release(request_id)`: on the virtual clock an
        attempt's end comes later than its run."""
        ...

    def release(self, request_id: str) -> None:
        """The held environment of `request_id` is free again (no-op if none is held)."""
        ...

    def caller(self, environment_id: str) -> str | None:
        """The request whose attempt runs in the environment now (its calls are that
        attempt's), or None if the executor does not know."""
        ...

    def reset(self, function: FunctionSpec) -> None:
        """Discard the function's environment, as Lambda does after a timeout or a
        crash: its next attempt is a cold start."""
        ...

    def close(self) -> None:
        """Stop every environment (the run is over)."""
        ...
