"""A function's log as Lambda writes it (docs/async-semantics.md R12.5): the platform's START,
END and REPORT lines around each invocation's own output, in plain text or, with
`LoggingConfig.LogFormat: JSON`, as the platform's JSON records; one log stream per
execution environment, named as Lambda names them; and the writing of it all to
CloudWatch Logs on the endpoint, so `aws logs tail` and `filter-log-events` show it.

Timestamps are wall-clock: a function runs in real time even on a virtual clock."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import uuid
from base64 import b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

TAIL_BYTES = 4096  # LogType=Tail: the last 4 KB of the invocation's log
# The runtime keeps an entry's lines together with "\r" on a plain stdout (see worker).
_ENTRY_LINE_JOIN = "\r"


def log_stream_name(version: str) -> str:
    """`YYYY/MM/DD/[version]<32 hex>`, one per execution environment."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def tail(text: str) -> str:
    """`X-Amz-Log-Result`: the last 4 KB of the log, base64-encoded."""
    return b64encode(text.encode()[-TAIL_BYTES:]).decode()


@dataclass
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # a cold start
    status: str = "success"  # "success", "error" or "timeout"
    error_type: str | None = None

    @property
    def billed_ms(self) -> int:
        # Since August 2025 the init phase of an on-demand function is billed too.
        return math.ceil(self.duration_ms + (self.init_duration_ms or 0.0))


class InvocationLog:
    """One invocation's log entries, in order, with their wall-clock times (ms)."""

    def __init__(self, *, json_format: bool) -> None:
        self.json_format = json_format
        self.entries: list[tuple[int, str]] = []

    def add_output(self, text: str, at_ms: int | None = None) -> None:
        """The function's own output: one entry per line."""
        at = at_ms if at_ms is not None else _now_ms()
        for line in text.splitlines():
            self.entries.append((at, line.replace(_ENTRY_LINE_JOIN, "\n")))

    def start(self, request_id: str, version: str) -> None:
        if self.json_format:
            self._platform("platform.start", {"requestId": request_id, "version": version})
        else:
            self.entries.append((_now_ms(), f"START RequestId: {request_id} Version: {version}"))

    def timed_out(self, request_id: str, timeout: float) -> None:
        message = f"{_iso(_now_ms())} {request_id} Task timed out after {timeout:.2f} seconds"
        self.entries.append((_now_ms(), message))

    def end(self, report: Report) -> None:
        if self.json_format:
            # **unverified**: the JSON format's END and REPORT are one platform.report record.
            metrics: dict[str, Any] = {
                "durationMs": round(report.duration_ms, 2),
                "billedDurationMs": report.billed_ms,
                "memorySizeMB": report.memory_size_mb,
                "maxMemoryUsedMB": report.max_memory_used_mb,
            }
            if report.init_duration_ms is not None:
                metrics["initDurationMs"] = round(report.init_duration_ms, 2)
            record: dict[str, Any] = {
                "requestId": report.request_id,
                "metrics": metrics,
                "status": report.status,
            }
            if report.error_type:
                record["errorType"] = report.error_type
            self._platform("platform.report", record)
            return
        self.entries.append((_now_ms(), f"END RequestId: {report.request_id}"))
        fields = [
            f"REPORT RequestId: {report.request_id}",
            f"Duration: {report.duration_ms:.2f} ms",
            f"Billed Duration: {report.billed_ms} ms",
            f"Memory Size: {report.memory_size_mb} MB",
            f"Max Memory Used: {report.max_memory_used_mb} MB",
        ]
        if report.init_duration_ms is not None:
            fields.append(f"Init Duration: {report.init_duration_ms:.2f} ms")
        if report.status != "success":
            # **unverified** wording: what recent REPORT lines show for a failed invocation.
            fields.append(f"Status: {report.status}")
            if report.error_type:
                fields.append(f"Error Type: {report.error_type}")
        self.entries.append((_now_ms(), "\t".join(fields) + "\t"))

    def text(self) -> str:
        return "".join(message + "\n" for _, message in self.entries)

    def _platform(self, kind: str, record: dict[str, Any]) -> None:
        at = _now_ms()
        self.entries.append((at, json.dumps({"time": _iso(at), "type": kind, "record": record})))


class CloudWatchLogWriter:
    """Puts each invocation's entries into the function's log group and its
    environment's stream on the endpoint, creating them as Lambda does.

    With the embedded moto it writes to moto's CloudWatch Logs backend directly: the
    same state its API serves, at a fraction of a client call's cost, which would
    otherwise be most of a short attempt's overhead."""

    def __init__(self, client: Any, *, embedded_backend: Any = None) -> None:
        self._client = client
        self._backend = embedded_backend
        self._groups: set[str] = set()
        self._streams: set[tuple[str, str]] = set()

    def write(self, group: str, stream: str, entries: list[tuple[int, str]]) -> None:
        if not entries:
            return
        events = [{"timestamp": at, "message": message or " "} for at, message in entries]
        try:
            self._ensure(group, stream)
            if self._backend is not None:
                self._backend.put_log_events(group, stream, events)
            else:
                self._client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except Exception as error:  # the attempt's outcome stands; the log is lost, and said so
            log.warning("could not write the log of %s to CloudWatch Logs: %s", group, error)

    def _ensure(self, group: str, stream: str) -> None:
        if group not in self._groups:
            with contextlib.suppress(*self._already_exists()):
                if self._backend is not None:
                    self._backend.create_log_group(group, {})
                else:
                    self._client.create_log_group(logGroupName=group)
            self._groups.add(group)
        if (group, stream) not in self._streams:
            with contextlib.suppress(*self._already_exists()):
                if self._backend is not None:
                    self._backend.create_log_stream(group, stream)
                else:
                    self._client.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams.add((group, stream))

    def _already_exists(self) -> tuple[type[Exception], ...]:
        if self._backend is not None:
            from moto.logs.exceptions import ResourceAlreadyExistsException

            return (ResourceAlreadyExistsException,)
        return (self._client.exceptions.ResourceAlreadyExistsException,)


def embedded_logs_backend(account_id: str, region: str) -> Any:
    """moto's CloudWatch Logs state for the account and region (the embedded endpoint)."""
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(at_ms: int) -> str:
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
