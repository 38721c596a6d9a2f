"""The timeline page as a file: the trace it embeds, its escaping, its size, and the
`--html` option that writes it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from asyncrun.api.timeline import BODY_LIMIT, encode_trace, page_html, script_json, stack_labels
from asyncrun.cli.main import main
from asyncrun.service.trace import AttemptFinished, DeliveryEvent, TraceEvent
from tests.runner.timeline.runs import ECHO, RecordedRun

DATA_ELEMENT = re.compile(r'<script id="asyncrun-data" type="application/json">(.*?)</script>', re.S)
# A thousand events, records included, stay under this (measured: about 230 KB).
THOUSAND_EVENT_PAGE_LIMIT = 300_000


def embedded(page: str) -> dict[str, Any]:
    found = DATA_ELEMENT.search(page)
    assert found is not None, "no data element in the page"
    return dict(json.loads(found.group(1)))


def decoded(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The events back from the page's format, as the page's script reads them."""
    events = []
    for row in data["rows"]:
        schema = data["kinds"][row[0]]
        event: dict[str, Any] = {"kind": schema["kind"], "at": data["t0"] + row[1] / 1000}
        for name, value in zip(schema["fields"], row[2:], strict=True):
            event[name] = data["strings"][value] if name in schema["strings"] and value is not None else value
        events.append(event)
    return events


def comparable(event: TraceEvent) -> dict[str, Any]:
    fields = event.model_dump(mode="json")
    fields.pop("logs", None)  # an attempt's log is left out of the page on purpose
    return fields


def test_the_embedded_trace_decodes_to_every_event_with_each_string_written_once(
    small_run: RecordedRun,
) -> None:
    page = page_html(small_run.trace, labels=stack_labels(small_run.stack), title="small run")
    data = embedded(page)

    events = decoded(data)
    assert len(events) == len(small_run.trace)
    for got, event in zip(events, small_run.trace, strict=True):
        want = comparable(event)
        assert got["at"] == pytest.approx(want.pop("at"), abs=1e-6)
        assert {name: value for name, value in got.items() if name != "at"} == want
    # every kind of event this run had, and each request id stored once
    assert {kind["kind"] for kind in data["kinds"]} >= {
        "accepted",
        "attempt_started",
        "attempt_finished",
        "retry_scheduled",
        "event_finished",
        "delivery",
        "s3_notification",
    }
    assert len(data["strings"]) == len(set(data["strings"]))
    request_ids = {event.request_id for event in small_run.trace}
    assert request_ids <= set(data["strings"])
    # names the page shows: the template's logical ids
    echo = small_run.stack.functions["Echo"]
    assert data["labels"][echo.name] == "Echo"
    assert data["labels"][small_run.stack.queues["FailureQueue"].arn] == "FailureQueue"
    assert data["title"] == "small run"
    assert data["live"] is None
    assert "<title>small run</title>" in page


def test_a_payload_cannot_end_the_data_element_or_inject_markup(small_run: RecordedRun) -> None:
    hostile = "</script><script>alert(1)</script><!-- & \u2028\u2029 </SCRIPT >"
    finished = next(e for e in small_run.trace if isinstance(e, AttemptFinished) and e.outcome == "error")
    delivery = next(e for e in small_run.trace if isinstance(e, DeliveryEvent))
    trace = [
        *small_run.trace,
        finished.model_copy(update={"error_message": hostile}),
        delivery.model_copy(update={"body": json.dumps({"requestPayload": hostile})}),
    ]

    page = page_html(trace, labels={}, title="<b>title</b></title>")

    template_scripts = page_html([], labels={}).lower().count("</script")
    assert page.lower().count("</script") == template_scripts
    assert "<!--" not in embedded(page)["strings"]  # (the check that follows needs the raw text)
    raw = DATA_ELEMENT.search(page)
    assert raw is not None
    assert not set(raw.group(1)) & {"<", ">", "&", "\u2028", "\u2029"}
    strings = embedded(page)["strings"]
    assert hostile in strings
    assert json.dumps({"requestPayload": hostile}) in strings
    assert "<title>&lt;b&gt;title&lt;/b&gt;&lt;/title&gt;</title>" in page


def test_script_json_parses_back_to_the_same_document() -> None:
    document = {"a": "</script>&<!--\u2028", "b": [1, 2.5, None, True], "c": "é ✓"}
    assert json.loads(script_json(document)) == document


def test_a_long_record_is_shortened_and_says_how_long_it_was(small_run: RecordedRun) -> None:
    delivery = next(e for e in small_run.trace if isinstance(e, DeliveryEvent))
    body = json.dumps({"requestPayload": "x" * (BODY_LIMIT * 3)})

    data = encode_trace([delivery.model_copy(update={"body": body})])

    (event,) = decoded(data)
    assert event["body"] == body[:BODY_LIMIT]
    assert event["body_length"] == len(body)


def test_a_thousand_events_make_a_small_page(thousand_event_run: RecordedRun) -> None:
    page = page_html(thousand_event_run.trace, labels=stack_labels(thousand_event_run.stack), title="1000")
    size = len(page.encode())
    raw_trace = sum(len(event.to_json().encode()) for event in thousand_event_run.trace)
    assert size < THOUSAND_EVENT_PAGE_LIMIT, f"{size} bytes for {len(thousand_event_run.trace)} events"
    # the compact form is smaller than the trace as JSON lines, the page's code included
    assert size < raw_trace
    assert len(decoded(embedded(page))) == len(thousand_event_run.trace)


def test_html_option_writes_the_page_after_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out" / "run.html"

    code = main(
        ["--template", str(ECHO), "--html", str(path), "invoke", "Echo", "--payload", '{"fail": true}']
    )

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Timeline: {path}" in captured.out
    data = embedded(path.read_text())
    kinds = [event["kind"] for event in decoded(data)]
    assert kinds.count("attempt_started") == 3  # the first attempt and two retries
    assert kinds[-1] == "delivery"
    assert data["title"].endswith("asyncrun invoke")


def test_html_option_after_the_command_and_in_the_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.html"

    code = main(["invoke", "Echo", "--template", str(ECHO), "--json", "--html", str(path)])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["timeline"] == str(path)
    assert path.is_file()


def test_serve_refuses_html_and_says_where_its_timeline_is(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--template", str(ECHO), "--html", "x.html"])

    assert code == 2
    assert "/_asyncrun/" in capsys.readouterr().err
