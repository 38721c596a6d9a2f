"""A picture of a run: one self-contained HTML page (inline CSS and JS, nothing fetched,
it opens from disk) drawing a run's trace on its time axis — a lane per function, a
bar per attempt coloured by outcome, the waits between retries, every delivery to its
destination, S3 notifications and Lambda destinations linked to the events they
caused — with the details of anything clicked.

The trace is embedded as compact JSON (a string table and one row per event, see
`encode_trace`) and drawn by the page's script, so the page stays small: the drawing
code is written once, not once per event. `asyncrun serve` serves the same page
empty at `/_asyncrun/`; there the script polls `/_asyncrun/trace` for the events.
The page itself (markup, style, script) is `timeline.html` beside this module."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from asyncrun.service.trace import TraceEvent
from asyncrun.service.trace_text import Names
from asyncrun.stack.model import Stack

# A delivered record is kept whole up to this many characters; beyond, the page keeps
# the start and says how long it was (an S3 event record is about 2 KB).
BODY_LIMIT = 16_384
FORMAT_VERSION = 1
_PAGE_ASSET = "timeline.html"
_DATA_MARK = "/*ASYNCRUN-DATA*/null"


def encode_trace(
    events: Sequence[TraceEvent],
    *,
    labels: Mapping[str, str] | None = None,
    title: str = "",
    live_url: str | None = None,
) -> dict[str, Any]:
    """The page's data: `kinds` gives each event kind's fields; each row is
    `[kind index, at - t0 in ms, value, ...]`, a string value being an index into
    `strings` (each request id, name and ARN is written once)."""
    strings: list[str] = []
    string_index: dict[str, int] = {}
    kinds: list[dict[str, Any]] = []
    kind_index: dict[str, int] = {}
    dumped = [_page_fields(event) for event in events]
    t0 = dumped[0]["at"] if dumped else None
    for fields in dumped:
        kind = fields["kind"]
        if kind not in kind_index:
            kind_index[kind] = len(kinds)
            kinds.append({"kind": kind, "fields": [], "strings": []})
        schema = kinds[kind_index[kind]]
        for name in fields:
            if name not in ("kind", "at") and name not in schema["fields"]:
                schema["fields"].append(name)
    for schema in kinds:
        rows_of_kind = [fields for fields in dumped if fields["kind"] == schema["kind"]]
        schema["strings"] = [
            name
            for name in schema["fields"]
            if all(isinstance(row.get(name), str | None) for row in rows_of_kind)
            and any(isinstance(row.get(name), str) for row in rows_of_kind)
        ]
    rows: list[list[Any]] = []
    for fields in dumped:
        schema = kinds[kind_index[fields["kind"]]]
        row: list[Any] = [kind_index[fields["kind"]], round((fields["at"] - t0) * 1000, 3)]
        for name in schema["fields"]:
            value = fields.get(name)
            if name in schema["strings"] and value is not None:
                if value not in string_index:
                    string_index[value] = len(strings)
                    strings.append(value)
                value = string_index[value]
            row.append(value)
        rows.append(row)
    return {
        "format": FORMAT_VERSION,
        "title": title,
        "t0": t0,
        "labels": dict(labels or {}),
        "live": live_url,
        "kinds": kinds,
        "strings": strings,
        "rows": rows,
    }


def _page_fields(event: TraceEvent) -> dict[str, Any]:
    fields = event.model_dump(mode="json")
    # An attempt's log stays out of the page: START/END/REPORT alone would double the
    # page of a large run; it is in CloudWatch Logs, `-v` and the --json report.
    fields.pop("logs", None)
    body = fields.get("body")
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        fields["body"] = body[:BODY_LIMIT]
        fields["body_length"] = len(body)
    return fields


def script_json(document: Any) -> str:
    """JSON that can sit inside a <script> element: no `<`, `>` or `&` (so no
    `</script>` or `<!--` in a payload ends the element early) and no line or paragraph
    separator, all written as JSON escapes that parse back to the same text."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def page_html(
    events: Sequence[TraceEvent],
    *,
    labels: Mapping[str, str] | None = None,
    title: str = "",
    live_url: str | None = None,
) -> str:
    """The whole page for these events (with `live_url`, the page also polls that
    trace route for the events that follow)."""
    template = (
        resources.files(__package__ or "asyncrun.api").joinpath(_PAGE_ASSET).read_text(encoding="utf-8")
    )
    data = script_json(encode_trace(events, labels=labels, title=title, live_url=live_url))
    page = template.replace(_DATA_MARK, data, 1)
    return page.replace("<title>asyncrun timeline</title>", f"<title>{_html_text(title)}</title>", 1)


def _html_text(text: str) -> str:
    return (text or "asyncrun timeline").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def stack_labels(stack: Stack) -> dict[str, str]:
    """The stack's names and ARNs with their logical ids: the page shows those."""
    return Names(stack).labels()


def write_page(path: Path, events: Sequence[TraceEvent], stack: Stack, *, title: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page_html(events, labels=stack_labels(stack), title=title), encoding="utf-8")
    return path


def live_page(stack: Stack, trace_url: str) -> str:
    """The page `asyncrun serve` shows: no events yet; it polls `trace_url` for them."""
    title = f"{stack.name} · asyncrun serve"
    return page_html([], labels=stack_labels(stack), title=title, live_url=trace_url)
