"""What a person (or a script, with --json) sees of a run: a live line per trace event,
then a summary of what the stack holds and what the functions did."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from asyncrun.service.destinations import Delivery
from asyncrun.service.metrics import (
    ASYNC_EVENTS_DROPPED,
    ASYNC_EVENTS_RECEIVED,
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    ERRORS,
    INVOCATIONS,
    THROTTLES,
)
from asyncrun.service.trace import (
    AttemptFinished,
    EventFinished,
    TraceEvent,
)
from asyncrun.service.trace_text import Names, duration_text, iso_time, shorten
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack

METRIC_COLUMNS = (
    INVOCATIONS,
    ERRORS,
    THROTTLES,
    ASYNC_EVENTS_RECEIVED,
    ASYNC_EVENTS_DROPPED,
    DESTINATION_DELIVERY_FAILURES,
    DEAD_LETTER_ERRORS,
)


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
    return shorten(str(value), 40)


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
