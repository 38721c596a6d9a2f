"""The trace as a person reads it: a live line per event as it happens, with the
stack's logical ids for names (the command line's output, the pytest plugin's failure
messages and the timeline page's labels)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TextIO

from asyncrun.service.trace import (
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
from asyncrun.stack.model import Stack

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


def shorten(text: str, limit: int = 100) -> str:
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

    def labels(self) -> dict[str, str]:
        """Every physical name, ARN and queue URL of the stack, with its logical id."""
        return dict(self._by_name)

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
                error = f"{event.error_type}: {shorten(event.error_message or '')}"
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
                return "red", f"{failed} {kind} {where}: {shorten(event.error or 'delivery failed')}"
            case Dropped():
                return "red", f"{self._icon('✗', 'DROPPED')} dropped: {event.reason}"
        return "", event.to_json()


# ---------------------------------------------------------------------- resources
