"""The event files under `events/` and the sample batches under `samples/`, and a way
to make an event file true in moto: put the object it names and swap the version id
the file pins for the one moto gave the object."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from tests.support.template import ROOT

EVENTS_DIR = ROOT / "events"
SAMPLES_DIR = ROOT / "samples"


def event_files() -> list[Path]:
    return sorted(path for path in EVENTS_DIR.rglob("*.json") if path.name != "env.json")


def load_event(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())


def sample_bytes(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


def s3_objects_of(event: Any) -> list[tuple[str, str, str | None]]:
    """(bucket, decoded key, version id) of every S3 record found anywhere in the event
    (an S3 notification, or a record whose request payload holds one)."""
    found: list[tuple[str, str, str | None]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("eventSource") == "aws:s3":
                s3 = value["s3"]
                found.append(
                    (s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("versionId"))
                )
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(event)
    return found


def put_and_pin(s3: Any, event: Any, contents: dict[str, bytes]) -> Any:
    """Put `contents` (decoded key -> bytes) where the event's records say, and return
    the event with each pinned version id replaced by the version moto assigned."""
    text = json.dumps(event)
    for bucket, key, pinned_version in dict.fromkeys(s3_objects_of(event)):
        if key not in contents:
            continue
        actual = s3.put_object(Bucket=bucket, Key=key, Body=contents[key])["VersionId"]
        if pinned_version:
            text = text.replace(pinned_version, actual)
    return json.loads(text)


def sample_contents() -> dict[str, bytes]:
    """What each S3 key the events name holds (decoded key -> bytes); tests put these
    before feeding an event to its function."""
    return {
        "incoming/2026-11-01/orders batch.csv": sample_bytes("orders-2026-11-01.csv"),
        "incoming/2026-11-02/orders.jsonl": sample_bytes("orders-2026-11-02.jsonl"),
        "incoming/bad/orders-rejected.csv": sample_bytes("orders-rejected.csv"),
        "incoming/2026-11-03/orders.xlsx": b"PK\x03\x04 not really a workbook",
        "incoming/empty/orders.csv": b"",
    }


def documented_results() -> dict[str, tuple[str, str]]:
    """file -> (function, expected result), from the table in events/README.md
    (function "-" for files that are not a function's input)."""
    rows = {}
    for line in (EVENTS_DIR / "README.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| (\S+) \| (.+) \|", line.strip())
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def function_inputs() -> dict[str, tuple[str, str]]:
    """The documented files that are a function's input (the others are failure records
    as the debug queue holds them)."""
    return {name: row for name, row in documented_results().items() if row[0] != "-"}


def describe_result(function: str, result: Any) -> str:
    """A function's answer in the words of events/README.md's table."""
    if function == "UploadFunction":
        uploads = result["uploads"]
        formats = ", ".join(upload["format"] for upload in uploads)
        return f"accepts {len(uploads)} upload{'s' if len(uploads) != 1 else ''} ({formats})"
    if function == "ProcessFunction":
        (processed,) = result["processed"]
        return (
            f"writes 1 item: {processed['status']}, {processed['total_rows']} rows, "
            f"{processed['rejected_rows']} rejected"
        )
    if function == "AuditFunction":
        return f"writes {len(result['entries'])} audit entr{'y' if len(result['entries']) == 1 else 'ies'}"
    raise AssertionError(f"no description for {function}")
