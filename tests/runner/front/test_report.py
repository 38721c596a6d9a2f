"""The live trace and the summary a person reads."""

from __future__ import annotations

import io

import pytest

from asyncrun.cli.report import sample_columns
from asyncrun.service.trace import (
    Accepted,
    AttemptFinished,
    AttemptStarted,
    DeliveryEvent,
    EventFinished,
    RetryScheduled,
    S3Notification,
)
from asyncrun.service.trace_text import LiveTrace, Names, relative_time, wants_colour
from asyncrun.stack.model import Stack

START = 1_800_000_000.0
REQUEST = "0123456789abcdef-request"


class Utf8Buffer(io.StringIO):
    encoding = "utf-8"


class Terminal(Utf8Buffer):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "+0s"), (60.4, "+60s"), (99, "+99s"), (180, "+3m00s"), (3723, "+1h02m03s")],
)
def test_relative_time_is_short(seconds: float, text: str) -> None:
    assert relative_time(seconds) == text


def trace_lines(stack: Stack, *events: object, stream: io.StringIO | None = None) -> list[str]:
    stream = stream or Utf8Buffer()
    live = LiveTrace(stack, stream, colour=False, start=START)
    for event in events:
        live(event)  # type: ignore[arg-type]
    live.flush()
    return stream.getvalue().splitlines()


def test_each_event_is_one_line_with_time_function_and_short_request_id(echo_stack: Stack) -> None:
    name = echo_stack.functions["Echo"].name
    common = {"request_id": REQUEST, "function": name}

    lines = trace_lines(
        echo_stack,
        AttemptStarted(at=START, attempt=1, age_ms=0, **common),
        AttemptFinished(
            at=START + 1,
            attempt=1,
            outcome="error",
            duration_ms=12,
            error_type="TooManyRejectedRowsError",
            error_message="4 of 10 rows",
            **common,
        ),
        RetryScheduled(at=START + 1, delay=60, reason="function_error", due=START + 61, **common),
        AttemptStarted(at=START + 61, attempt=2, age_ms=61_000, **common),
        AttemptFinished(at=START + 61, attempt=2, outcome="success", duration_ms=42, **common),
        EventFinished(at=START + 61, condition="Success", approximate_invoke_count=2, **common),
        DeliveryEvent(
            at=START + 180,
            delivery="on_success",
            destination_type="sqs",
            target_arn=echo_stack.queues["SuccessQueue"].arn,
            ok=True,
            **common,
        ),
    )

    assert lines == [
        "     +0s  Echo  01234567  ▶ attempt 1",
        "     +1s  Echo  01234567  ✗ TooManyRejectedRowsError: 4 of 10 rows",
        "     +1s  Echo  01234567  ⏳ retry in 60 s",
        "    +61s  Echo  01234567  ▶ attempt 2 (age 61 s)",
        "    +61s  Echo  01234567  ✓ success 42 ms",
        "    +61s  Echo  01234567  ■ Success after 2 attempts",
        "  +3m00s  Echo  01234567  → OnSuccess SQS SuccessQueue",
    ]


def test_a_destination_event_is_shown_after_the_delivery_that_caused_it(echo_stack: Stack) -> None:
    name = echo_stack.functions["Echo"].name
    queued = Accepted(
        at=START,
        request_id="new-request",
        function=name,
        qualifier="$LATEST",
        payload_bytes=10,
        source="destination",
    )
    delivered = DeliveryEvent(
        at=START,
        request_id=REQUEST,
        function=name,
        delivery="on_success",
        destination_type="lambda",
        target_arn=f"{echo_stack.functions['Echo'].arn}:live",
        ok=True,
    )

    lines = trace_lines(echo_stack, queued, delivered)

    assert "→ OnSuccess Lambda Echo:live" in lines[0]
    assert "queued (destination, 10 B)" in lines[1]


def test_s3_notifications_name_the_bucket_key_and_function(echo_stack: Stack) -> None:
    bucket = echo_stack.buckets["Inbox"]
    name = echo_stack.functions["Echo"].name

    (line,) = trace_lines(
        echo_stack,
        Accepted(
            at=START, request_id=REQUEST, function=name, qualifier="$LATEST", payload_bytes=9, source="s3"
        ),
        S3Notification(
            at=START,
            request_id=REQUEST,
            function=name,
            bucket=bucket.name,
            key="in/a b.csv",
            configuration_id="c",
        ),
    )

    assert line.endswith("⇒ S3 Inbox put in/a b.csv → Echo")


def test_a_failed_delivery_says_why(echo_stack: Stack) -> None:
    (line,) = trace_lines(
        echo_stack,
        DeliveryEvent(
            at=START,
            request_id=REQUEST,
            function=echo_stack.functions["Echo"].name,
            delivery="on_failure",
            destination_type="sqs",
            target_arn="arn:aws:sqs:us-east-1:123456789012:gone",
            ok=False,
            error="QueueDoesNotExist",
        ),
    )

    assert "✗ OnFailure SQS arn:aws:sqs:us-east-1:123456789012:gone: QueueDoesNotExist" in line


def test_ascii_words_replace_icons_on_other_encodings(echo_stack: Stack) -> None:
    class Latin1(io.StringIO):
        encoding = "latin-1"

    name = echo_stack.functions["Echo"].name
    (line,) = trace_lines(
        echo_stack,
        AttemptFinished(
            at=START, request_id=REQUEST, function=name, attempt=1, outcome="success", duration_ms=5
        ),
        stream=Latin1(),
    )

    assert line.endswith("OK success 5 ms")


def test_colours_mark_outcomes_when_enabled(echo_stack: Stack) -> None:
    stream = Utf8Buffer()
    live = LiveTrace(echo_stack, stream, colour=True, start=START)
    name = echo_stack.functions["Echo"].name

    live(
        AttemptFinished(
            at=START, request_id=REQUEST, function=name, attempt=1, outcome="success", duration_ms=5
        )
    )

    assert "\033[32m✓ success 5 ms\033[0m" in stream.getvalue()


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_colour(Terminal())
    assert not wants_colour(Utf8Buffer())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colour(Terminal())


def test_names_map_arns_back_to_logical_ids(echo_stack: Stack) -> None:
    names = Names(echo_stack)
    echo = echo_stack.functions["Echo"]

    assert names.function(echo.name) == "Echo"
    assert names.target(f"{echo.arn}:live") == "Echo:live"
    assert names.target(echo_stack.queues["FailureQueue"].arn) == "FailureQueue"
    assert names.target("arn:aws:sns:us-east-1:1:elsewhere") == "arn:aws:sns:us-east-1:1:elsewhere"


def test_sample_columns_put_the_keys_first_and_skip_nested_values() -> None:
    items = [{"id": "1", "status": "OK", "rows": 3, "data": {"x": 1}}, {"id": "2", "status": "BAD"}]

    assert sample_columns(items, ["id"]) == ["id", "status", "rows"]
