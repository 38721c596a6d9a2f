"""Lambda's retries and maximum event age as the stack configures them: a stage that
fails once succeeds on its retry a minute later and writes its results once; an event
older than MaximumEventAgeInSeconds is not retried."""

from __future__ import annotations

import json

import pytest

from asyncrun.service.faults import Fault
from asyncrun.stack.template import TemplateError, load_stack
from tests.app.pipeline.conftest import StartPipeline
from tests.support.template import TEMPLATE_PATH, project_template

pytestmark = pytest.mark.pipeline

FLAKY = ("orders-flaky.csv", "incoming/flaky/orders-flaky.csv")
UNSUPPORTED = ("orders-export.xlsx", "incoming/bad/orders-export.xlsx")
AGE_PARAMETER = "MaximumEventAgeInSeconds"


def test_a_process_attempt_that_fails_once_succeeds_on_the_retry_a_minute_later(
    start_pipeline: StartPipeline,
) -> None:
    # Given the process stage fails its first attempt on this upload
    sample, key = FLAKY
    pipeline = start_pipeline()
    parts = pipeline.parts
    pipeline.inject(Fault(parts.process.logical_id, "error", times=1, match=key))
    pipeline.upload(sample, key)

    # When the pipeline has run
    pipeline.run()

    # Then process ran twice for the one event, the retry 60 virtual seconds after attempt 1
    # (the injected failure takes no time)
    attempts = pipeline.events("attempt_started", parts.process)
    assert [a.attempt for a in attempts] == [1, 2]
    (request_id,) = {a.request_id for a in attempts}
    assert attempts[1].at - attempts[0].at == pytest.approx(60.0)
    (retry,) = pipeline.events("retry_scheduled", parts.process)
    assert (retry.reason, retry.delay) == ("function_error", 60.0)
    # ... and its results were written once
    (item,) = pipeline.items()
    assert item["status"] == "PROCESSED"
    assert item["process_request_id"] == request_id
    ((audit_key, _),) = pipeline.audit_versions()
    process_stage = pipeline.audit_entry(audit_key)["stages"]["process"]
    # ... with the audit entry telling that process needed two attempts
    assert (process_stage["request_id"], process_stage["approximate_invoke_count"]) == (request_id, 2)
    assert process_stage["condition"] == "Success"
    assert len(pipeline.request_ids(parts.audit)) == 1
    assert pipeline.debug_messages() == []
    assert pipeline.alerts() == []


@pytest.mark.parametrize(
    ("maximum_age", "attempts"),
    [
        # docs/async-semantics.md R2.5, observed: with 2 retries, age 60 ends after attempt 1 (the
        # retry would be due at 60 s) and age 90 after attempt 2 (the next due at 180 s).
        ("60", 1),
        ("90", 2),
    ],
)
def test_an_event_older_than_the_maximum_age_goes_to_the_failure_route_without_more_retries(
    start_pipeline: StartPipeline, maximum_age: str, attempts: int
) -> None:
    # Given a stack whose events live `maximum_age` seconds, and an upload that fails
    pipeline = start_pipeline(parameter_overrides={AGE_PARAMETER: maximum_age})
    parts = pipeline.parts
    sample, key = UNSUPPORTED
    pipeline.upload(sample, key)

    # When the pipeline has run
    pipeline.run()

    # Then the upload stage stopped once its next retry would start past the maximum age
    assert len(pipeline.request_ids(parts.upload)) == attempts
    (message,) = pipeline.debug_messages()
    record = json.loads(message)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == attempts
    assert record["responsePayload"]["errorType"] == "UnsupportedFormatError"
    (alert,) = pipeline.alerts()
    assert alert.body == message
    assert pipeline.items() == []


def test_the_maximum_age_parameter_allows_what_lambda_allows() -> None:
    # Lambda accepts 60-21600 seconds; the template's parameter must not allow more.
    parameter = project_template().parameters[AGE_PARAMETER]
    minimum, maximum = int(parameter["MinValue"]), int(parameter["MaxValue"])
    assert (minimum, maximum) == (60, 21600)

    with pytest.raises(
        TemplateError, match=rf"{AGE_PARAMETER}: {minimum - 1} is below the minimum {minimum}"
    ):
        load_stack(TEMPLATE_PATH, parameter_overrides={AGE_PARAMETER: str(minimum - 1)})
