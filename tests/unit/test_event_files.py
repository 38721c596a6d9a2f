"""Every file in events/ fed to its function gives the result events/README.md documents."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from pipeline.records import InvocationRecord

from tests.support.events import EVENTS_DIR, event_files, load_event, put_and_pin, sample_bytes
from tests.support.storage import Invoke, StackStorage
from tests.support.template import Template

# What each S3 key the events name holds; the tests put it before invoking.
CONTENTS = {
    "incoming/2026-11-01/orders batch.csv": sample_bytes("orders-2026-11-01.csv"),
    "incoming/2026-11-02/orders.jsonl": sample_bytes("orders-2026-11-02.jsonl"),
    "incoming/bad/orders-rejected.csv": sample_bytes("orders-rejected.csv"),
    "incoming/2026-11-03/orders.xlsx": b"PK\x03\x04 not really a workbook",
    "incoming/empty/orders.csv": b"",
}


def _documented() -> dict[str, tuple[str, str]]:
    """file -> (function, expected result), from the README's table."""
    rows = {}
    for line in (EVENTS_DIR / "README.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| (\S+) \| (.+) \|", line.strip())
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


DOCUMENTED = _documented()


def _describe(function: str, result: Any) -> str:
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


def _describe_failure_record(raw: dict[str, Any]) -> str:
    record = InvocationRecord.model_validate(raw)
    error = record.error()
    return (
        f"OnFailure record: {record.condition} after {record.request_context.approximate_invoke_count} "
        f"attempts, {error.error_type if error else 'no error'}"
    )


def test_every_event_file_is_documented() -> None:
    files = {str(path.relative_to(EVENTS_DIR)) for path in event_files()}

    assert files == set(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_given_event_file_when_fed_to_its_function_then_documented_result(
    name: str, invoke: Invoke, storage: StackStorage
) -> None:
    # Given
    function, expected = DOCUMENTED[name]
    event = put_and_pin(boto3.client("s3"), load_event(name), CONTENTS)

    # When
    if function == "-":
        outcome = _describe_failure_record(event)
    else:
        try:
            outcome = _describe(function, invoke(function, event))
        except Exception as error:  # the documented result may be a raised domain error
            outcome = f"raises {type(error).__name__}"

    # Then
    assert outcome == expected


def test_env_file_holds_each_function_template_environment(template: Template) -> None:
    env = json.loads((EVENTS_DIR / "env.json").read_text())

    assert env == {function_id: template.environment(function_id) for function_id in template.functions}
