"""Every file in events/ fed to its function gives the result events/README.md documents."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pipeline.models import InvocationRecord

from tests.support.events import (
    EVENTS_DIR,
    describe_result,
    documented_results,
    event_files,
    load_event,
    put_and_pin,
    sample_contents,
)
from tests.support.storage import Invoke, StackStorage
from tests.support.template import Template

CONTENTS = sample_contents()
DOCUMENTED = documented_results()


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
            outcome = describe_result(function, invoke(function, event))
        except Exception as error:  # the documented result may be a raised domain error
            outcome = f"raises {type(error).__name__}"

    # Then
    assert outcome == expected


def test_env_file_holds_each_function_template_environment(template: Template) -> None:
    env = json.loads((EVENTS_DIR / "env.json").read_text())

    assert env == {function_id: template.environment(function_id) for function_id in template.functions}
