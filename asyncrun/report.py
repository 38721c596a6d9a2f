"""What a person (or a script, with --json) sees of a run: a live line per trace event,
then a summary of what the stack holds and what the functions did."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from asyncrun.destinations import Delivery
from asyncrun.endpoint import Endpoint
from asyncrun.metrics import (
    ASYNC_EVENTS_DROPPED,
    ASYNC_EVENTS_RECEIVED,
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    ERRORS,
    INVOCATIONS,
    THROTTLES,
)
from asyncrun.stack import Stack
from asyncrun.trace import (
    Accepted,
    AttemptFinished,
    AttemptStarted,
    DeliveryEvent,
    Dropped,
    EventFinished,
    RetryScheduled,
    S3Notification,
    TraceEvent,
)

METRIC_COLUMNS = (
    INVOCATIONS,
    ERRORS,
    THROTTLES,
    ASYNC_EVENTS_RECEIVED,
    ASYNC_EVENTS_DROPPED,
    DESTINATION_DELIVERY_FAILURES,
    DEAD_LETTER_ERRORS,
)
_DELIVERY_WORDS = {"on_success": "OnSuccess", "on_failure": "OnFailure", "dead_letter": "DLQ"}
_DESTINATION_WORDS = {
    "sqs": "SQS",
    "sns": "SNS",
    "lambda": "Lambda",
    "eventbridge": "EventBridge",
    "s3": "S3",
    "unknown": "?",
}
_COLOURS = {
    "green": "32",
    "red": "31",
    "yellow": "33",
    "cyan": "36",
    "dim": "2",
    "bold": "1",
    "magenta": "35",
}


def wants_colour(stream: TextIO) -> bool:
    """Colours only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _speaks_unicode(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return encoding.startswith("utf")


def relative_time(seconds: float) -> str:
    """`+0s`, `+60s`, `+3m00s`, `+1h02m03s`: short for the waits a retry makes."""
    total = max(0, round(seconds))
    if total < 100:
        return f"+{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"+{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"+{hours}h{minutes:02d}m{secs:02d}s"


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 100:
        return f"{seconds:.0f} s" if abs(seconds - round(seconds)) < 0.05 else f"{seconds:.1f} s"
    return relative_time(seconds).lstrip("+")


def iso_time(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _shorten(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Names:
    """Physical names and ARNs back to the template's logical ids, for display."""

    def __init__(self, stack: Stack) -> None:
        self._by_name: dict[str, str] = {}
        for collection in (stack.functions, stack.buckets, stack.queues, stack.topics, stack.tables):
            for logical_id, spec in collection.items():
                self._by_name[spec.name] = logical_id
                self._by_name[spec.arn] = logical_id
        for logical_id, bus in stack.buses.items():
            self._by_name[bus.arn] = logical_id
        for logical_id, queue in stack.queues.items():
            if queue.url:
                self._by_name[queue.url] = logical_id

    def function(self, name: str) -> str:
        return self._by_name.get(name, name)

    def target(self, arn: str) -> str:
        """`ProcessFunction:live` for a qualified function ARN, the logical id for a
        resource of the stack, the ARN itself otherwise."""
        if arn in self._by_name:
            return self._by_name[arn]
        parts = arn.split(":")
        if len(parts) == 8 and parts[2] == "lambda":
            unqualified = ":".join(parts[:7])
            if unqualified in self._by_name:
                return f"{self._by_name[unqualified]}:{parts[7]}"
        return arn


class LiveTrace:
    """A trace listener: one line per event, as it happens."""

    def __init__(
        self,
        stack: Stack,
        stream: TextIO,
        *,
        colour: bool | None = None,
        start: float | None = None,
        function_logs: bool = False,
    ) -> None:
        self.stream = stream
        self.function_logs = function_logs  # -v: each attempt's log under its line
        self.colour = wants_colour(stream) if colour is None else colour
        self.unicode = _speaks_unicode(stream)
        self.start = start
        self.names = Names(stack)
        self._width = max((len(logical_id) for logical_id in stack.functions), default=8)
        # The engine queues a destination's (or a duplicate's) event before it reports
        # the delivery (or the notification) that caused it; cause first reads better.
        self._held: list[str] = []

    def __call__(self, event: TraceEvent) -> None:
        line = self.render(event)
        if line is None:
            return
        if isinstance(event, Accepted) and event.source in ("destination", "duplicate"):
            self._held.append(line)
            return
        if isinstance(event, DeliveryEvent | S3Notification):
            self._write(line)
            self.flush()
            return
        self.flush()
        self._write(line)
        if self.function_logs and isinstance(event, AttemptFinished) and event.logs:
            for log_line in event.logs.splitlines():
                self._write(
                    self._paint("dim", f"{'':>8}  {'':{self._width}}  {self._icon('│', '|')} {log_line}")
                )

    def flush(self) -> None:
        held, self._held = self._held, []
        for line in held:
            self._write(line)

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A line of the caller's own (a demo step, say), set apart from the events."""
        self.flush()
        self._write(self._paint("bold", text))

    def _paint(self, colour: str, text: str) -> str:
        return f"\033[{_COLOURS[colour]}m{text}\033[0m" if self.colour else text

    def _icon(self, icon: str, word: str) -> str:
        return icon if self.unicode else word

    def render(self, event: TraceEvent) -> str | None:
        if self.start is None:
            self.start = event.at
        body = self._describe(event)
        if body is None:
            return None
        colour, text = body
        when = self._paint("dim", f"{relative_time(event.at - self.start):>8}")
        function = self.names.function(event.function).ljust(self._width)
        request = self._paint("dim", (event.request_id or "-" * 8)[:8])
        return f"{when}  {function}  {request}  {self._paint(colour, text) if colour else text}"

    def _describe(self, event: TraceEvent) -> tuple[str, str] | None:
        match event:
            case Accepted(source="s3"):
                return None  # the S3 notification line that follows says it better
            case Accepted(source="duplicate"):
                return "magenta", f"{self._icon('⇉', '>>')} delivered again (at-least-once duplicate)"
            case Accepted():
                return "", f"{self._icon('⇢', '->')} queued ({event.source}, {event.payload_bytes} B)"
            case S3Notification():
                bucket = self.names.target(f"arn:aws:s3:::{event.bucket}")
                target = self.names.function(event.function)
                return (
                    "cyan",
                    f"{self._icon('⇒', '=>')} S3 {bucket} put {event.key} {self._icon('→', '->')} {target}",
                )
            case AttemptStarted():
                age = f" (age {duration_text(event.age_ms / 1000)})" if event.age_ms >= 1000 else ""
                return "", f"{self._icon('▶', '>')} attempt {event.attempt}{age}"
            case AttemptFinished(outcome="success"):
                return "green", f"{self._icon('✓', 'OK')} success {event.duration_ms:.0f} ms"
            case AttemptFinished(outcome="throttled"):
                return "yellow", f"{self._icon('⊘', 'THROTTLED')} throttled ({event.error_type})"
            case AttemptFinished():
                error = f"{event.error_type}: {_shorten(event.error_message or '')}"
                return "red", f"{self._icon('✗', 'FAILED')} {error}"
            case RetryScheduled():
                why = "back off" if event.reason == "throttle" else "retry"
                return "yellow", f"{self._icon('⏳', '...')} {why} in {duration_text(event.delay)}"
            case EventFinished():
                count = event.approximate_invoke_count
                attempts = f"{count} attempt{'s' if count != 1 else ''}"
                colour = "green" if event.condition == "Success" else "red"
                return colour, f"{self._icon('■', '#')} {event.condition} after {attempts}"
            case DeliveryEvent():
                arrow = self._icon("→", "->")
                kind = _DELIVERY_WORDS[event.delivery]
                where = f"{_DESTINATION_WORDS[event.destination_type]} {self.names.target(event.target_arn)}"
                if event.ok:
                    return "cyan", f"{arrow} {kind} {where}"
                failed = self._icon("✗", "FAILED")
                return "red", f"{failed} {kind} {where}: {_shorten(event.error or 'delivery failed')}"
            case Dropped():
                return "red", f"{self._icon('✗', 'DROPPED')} dropped: {event.reason}"
        return "", event.to_json()


# ---------------------------------------------------------------------- resources
@dataclass
class TableContents:
    name: str
    count: int
    sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Snapshot:
    """What the stack's tables, buckets and queues hold at the end of a run."""

    tables: dict[str, TableContents] = field(default_factory=dict)
    buckets: dict[str, tuple[str, int]] = field(default_factory=dict)  # logical id -> (name, objects)
    queues: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # -> (name, visible, in flight)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tables": {
                logical_id: {"name": table.name, "items": table.count}
                for logical_id, table in self.tables.items()
            },
            "buckets": {
                logical_id: {"name": name, "objects": n} for logical_id, (name, n) in self.buckets.items()
            },
            "queues": {
                logical_id: {"name": name, "messages": visible, "in_flight": in_flight}
                for logical_id, (name, visible, in_flight) in self.queues.items()
            },
        }


def snapshot(stack: Stack, endpoint: Endpoint, *, sample: int = 0) -> Snapshot:
    """Counts (and, with `sample`, the first items of each table) read from the endpoint."""
    from boto3.dynamodb.types import TypeDeserializer

    result = Snapshot()
    dynamodb = endpoint.client("dynamodb")
    deserializer = TypeDeserializer()
    for logical_id, table in stack.tables.items():
        items: list[dict[str, Any]] = []
        count = 0
        for page in dynamodb.get_paginator("scan").paginate(TableName=table.name):
            count += page["Count"]
            for item in page["Items"]:
                if len(items) < sample:
                    items.append({key: deserializer.deserialize(value) for key, value in item.items()})
        result.tables[logical_id] = TableContents(table.name, count, items)
    s3 = endpoint.client("s3")
    for logical_id, bucket in stack.buckets.items():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
        result.buckets[logical_id] = (bucket.name, sum(page.get("KeyCount", 0) for page in pages))
    sqs = endpoint.client("sqs")
    for logical_id, queue in stack.queues.items():
        if not queue.url:
            continue
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        result.queues[logical_id] = (
            queue.name,
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )
    return result


# ---------------------------------------------------------------------- summary
def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "  ") -> list[str]:
    cells = [[str(header) for header in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        line = "  ".join(
            value.rjust(width) if index and value.replace(".", "").isdigit() else value.ljust(width)
            for value, width in zip(row, widths, strict=True)
        )
        lines.append(indent + line.rstrip())
        if index == 0:
            lines.append(indent + "  ".join("-" * width for width in widths))
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str, separators=(",", ":"))
    return _shorten(str(value), 40)


def sample_columns(items: Sequence[Mapping[str, Any]], key_names: Sequence[str], limit: int = 6) -> list[str]:
    """The key attributes, then the scalar attributes most items have, up to `limit`."""
    counts: Counter[str] = Counter()
    for item in items:
        counts.update(name for name, value in item.items() if not isinstance(value, dict | list))
    others = [name for name, _ in counts.most_common() if name not in key_names]
    return [*key_names, *others][:limit]


@dataclass
class RunOutcome:
    """Everything the summary and the JSON report are made from."""

    stack: Stack
    trace: Sequence[TraceEvent]
    deliveries: Sequence[Delivery]
    metrics: Mapping[str, Mapping[str, Any]]  # by physical function name
    resources: Snapshot
    virtual_seconds: float
    wall_seconds: float
    notes: dict[str, Any] = field(default_factory=dict)


def summary_lines(outcome: RunOutcome, *, sample_rows: int = 0, unicode: bool = True) -> list[str]:
    stack = outcome.stack
    names = Names(stack)
    lines = [f"Summary of stack {stack.name} ({stack.region})"]
    if outcome.resources.tables:
        lines.append("Tables")
        for logical_id, table in outcome.resources.tables.items():
            lines.append(f"  {logical_id}: {table.count} item{'s' if table.count != 1 else ''}")
            if sample_rows and table.sample:
                keys = [entry["AttributeName"] for entry in stack.tables[logical_id].key_schema]
                columns = sample_columns(table.sample, keys)
                rows = [[item.get(column, "") for column in columns] for item in table.sample[:sample_rows]]
                lines.extend(_table(columns, rows, indent="    "))
    if outcome.resources.buckets:
        lines.append("Buckets")
        for logical_id, (_, objects) in outcome.resources.buckets.items():
            lines.append(f"  {logical_id}: {objects} object{'s' if objects != 1 else ''}")
    if outcome.resources.queues:
        lines.append("Queues")
        for logical_id, (_, visible, in_flight) in outcome.resources.queues.items():
            extra = f" ({in_flight} in flight)" if in_flight else ""
            lines.append(f"  {logical_id}: {visible} message{'s' if visible != 1 else ''}{extra}")
    alerts = Counter(
        names.target(delivery.target_arn)
        for delivery in outcome.deliveries
        if delivery.destination_type == "sns" and delivery.ok
    )
    lines.append(
        "Alerts published: "
        + (", ".join(f"{count} to {topic}" for topic, count in alerts.items()) if alerts else "none")
    )
    failed = [delivery for delivery in outcome.deliveries if not delivery.ok]
    if failed:
        lines.append(f"Failed deliveries: {len(failed)}")
    if outcome.metrics:
        lines.append("Metrics")
        rows = [
            [names.function(function), *(counters.get(metric, 0) for metric in METRIC_COLUMNS)]
            for function, counters in outcome.metrics.items()
        ]
        lines.extend(_table(["Function", *METRIC_COLUMNS], rows))
    ratio = ""
    if outcome.wall_seconds > 0 and outcome.virtual_seconds > outcome.wall_seconds * 2:
        ratio = f", {outcome.virtual_seconds / outcome.wall_seconds:.0f}x faster than real time"
    lines.append(
        f"Time: {duration_text(outcome.virtual_seconds)} of virtual time in "
        f"{duration_text(outcome.wall_seconds)} of wall time{ratio}"
    )
    return lines


def json_report(outcome: RunOutcome) -> dict[str, Any]:
    """The machine-readable report `--json` prints."""
    names = Names(outcome.stack)
    attempts = [
        {
            "at": iso_time(event.at),
            "request_id": event.request_id,
            "function": names.function(event.function),
            "function_name": event.function,
            "attempt": event.attempt,
            "outcome": event.outcome,
            "duration_ms": round(event.duration_ms, 3),
            "error_type": event.error_type,
            "error_message": event.error_message,
            "logs": event.logs,
        }
        for event in outcome.trace
        if isinstance(event, AttemptFinished)
    ]
    deliveries = [
        {
            "at": iso_time(delivery.at),
            "request_id": delivery.request_id,
            "function": names.function(delivery.function),
            "kind": delivery.kind,
            "destination_type": delivery.destination_type,
            "target": delivery.target_arn,
            "ok": delivery.ok,
            "error": delivery.error,
            "body": delivery.body,
        }
        for delivery in outcome.deliveries
    ]
    finished = [
        {
            "at": iso_time(event.at),
            "request_id": event.request_id,
            "function": names.function(event.function),
            "condition": event.condition,
            "approximate_invoke_count": event.approximate_invoke_count,
        }
        for event in outcome.trace
        if isinstance(event, EventFinished)
    ]
    return {
        "stack": outcome.stack.name,
        "region": outcome.stack.region,
        "attempts": attempts,
        "events": finished,
        "deliveries": deliveries,
        "metrics": {
            names.function(function): dict(counters) for function, counters in outcome.metrics.items()
        },
        "resources": outcome.resources.as_dict(),
        "elapsed": {
            "virtual_seconds": round(outcome.virtual_seconds, 3),
            "wall_seconds": round(outcome.wall_seconds, 3),
        },
        **outcome.notes,
    }


def print_json(document: Mapping[str, Any], stream: TextIO | None = None) -> None:
    print(json.dumps(document, indent=2, default=str), file=stream or sys.stdout, flush=True)
