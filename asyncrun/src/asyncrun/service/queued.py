"""The engine's units of work and its answers: a queued event, what an attempt's
code did, an attempt in flight, a synchronous answer and a run's summary."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncrun.errors import InvalidRequestContentError
from asyncrun.service.concurrency import Slot
from asyncrun.service.executor import AttemptResult
from asyncrun.service.limits import payload_too_large
from asyncrun.service.logs import tail
from asyncrun.service.s3events import S3Invocation
from asyncrun.service.sources import SourceInvocation
from asyncrun.stack.model import FunctionSpec


@dataclass
class QueuedEvent:
    request_id: str
    function: FunctionSpec
    qualifier: str  # "$LATEST", a version or an alias: the config and record follow it
    version: str  # the version that runs
    explicit_qualifier: bool  # whether the caller named a qualifier (the context's invoked ARN shows it)
    payload: bytes
    queued_at: float
    hops: int = 0
    chain_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "invoke"
    caused_by: str | None = None  # the request that led to this one (trace.Accepted)
    # Attempts that ran the function: approximateInvokeCount. Throttled attempts never
    # reached the function and are not counted (**unverified**).
    attempts: int = 0
    function_errors: int = 0
    throttles: int = 0  # consecutive throttles, for the backoff
    last: AttemptResult | None = None

    @property
    def qualified_arn(self) -> str:
        """The record's `functionArn`: `:$LATEST` for an unqualified invoke; through an
        alias the alias name (**unverified**; the executed version is in the record's
        `executedVersion`)."""
        return f"{self.function.arn}:{self.qualifier}"

    @property
    def invoked_arn(self) -> str:
        return self.qualified_arn if self.explicit_qualifier else self.function.arn


@dataclass
class Effects:
    """What an attempt's code did that the engine takes as new events: its own
    asynchronous invokes and the notifications of its writes."""

    invokes: list[tuple[Any, ...]] = field(default_factory=list)
    sources: list[SourceInvocation] = field(default_factory=list)
    s3: list[S3Invocation] = field(default_factory=list)
    # Whose chain the notifications continue, when not the attempt's own (see engine.py).
    cause: QueuedEvent | None = None


@dataclass
class InFlight:
    """An attempt whose code has run and whose end is due at `slot.end`."""

    event: QueuedEvent
    result: AttemptResult
    slot: Slot
    effects: Effects


@dataclass
class InvokeResult:
    """A synchronous (RequestResponse) invocation's answer."""

    request_id: str
    status_code: int
    payload: bytes
    executed_version: str
    function_error: str | None = None
    logs: str = ""  # the invocation's log (LogType=Tail)

    def headers(self, *, log_tail: bool) -> dict[str, str]:
        """The response headers Lambda's `Invoke` answers with."""
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": self.executed_version,
            "X-Amzn-RequestId": self.request_id,
        }
        if self.function_error:
            headers["X-Amz-Function-Error"] = self.function_error
        if log_tail:
            headers["X-Amz-Log-Result"] = tail(self.logs)
        return headers


@dataclass
class RunSummary:
    processed: int  # units of work done (attempts, throttles, events ended without running)
    started_at: float  # engine clock
    finished_at: float
    pending: int  # events still queued (max_events reached)


def payload_bytes(payload: bytes | str | Mapping[str, Any] | None, limit: int) -> bytes:
    """The request body as Lambda takes it: size-checked, JSON, empty meaning `{}`."""
    if payload is None:
        body = b""
    elif isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = json.dumps(payload, ensure_ascii=False).encode()
    if len(body) > limit:
        raise payload_too_large(len(body), limit)
    if not body:
        return b"{}"
    try:
        json.loads(body)
    except ValueError as exc:
        # **unverified** wording after the prefix: the service names its parser's error.
        raise InvalidRequestContentError(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return body
