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
    """Runs attempts; owns the execution environments they run in."""

    def run(
        self,
        function: FunctionSpec,
        *,
        version: str,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        timeout: float,
    ) -> AttemptResult: ...

    def reset(self, function: FunctionSpec) -> None:
        """Discard the function's environment, as Lambda does after a timeout or a
        crash: its next attempt is a cold start."""
        ...

    def close(self) -> None:
        """Stop every environment (the run is over)."""
        ...
