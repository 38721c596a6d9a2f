"""Every stage's failure takes the failure route: after the retries, Lambda sends the
invocation record to the alert topic, and the debug queue receives it unchanged (raw
delivery). Nothing after the failed stage is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

import pytest

from asyncrun.stack.model import FunctionSpec
from tests.app.pipeline.conftest import SAMPLES, Pipeline, StartPipeline
from tests.support.records import RECORD_KEYS

pytestmark = pytest.mark.pipeline


def delete_audit_bucket(pipeline: Pipeline) -> None:
    """The audit stage has no bad input of its own: take its bucket away instead (the
    next test's provisioning brings it back)."""
    pipeline.endpoint.client("s3").delete_bucket(Bucket=pipeline.parts.audit_bucket.name)


@dataclass(frozen=True)
class FailureCase:
    id: str
    stage: Literal["upload", "process", "audit"]
    body: str | bytes  # a file under samples/, or the bytes to upload
    key: str
    error_type: str
    item_status: str | None = None  # the process-table item the run leaves, if any
    before_run: Callable[[Pipeline], None] | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)


CASES = [
    FailureCase(
        id="upload-unsupported",
        stage="upload",
        body="orders-export.xlsx",
        key="incoming/bad/orders-export.xlsx",
        error_type="UnsupportedFormatError",
    ),
    FailureCase(
        id="upload-empty",
        stage="upload",
        body=b"",
        key="incoming/bad/empty orders.csv",
        error_type="EmptyUploadError",
    ),
    # MaxUploadBytes reaches the function's environment from the template's parameter.
    FailureCase(
        id="upload-too-large",
        stage="upload",
        body="orders-2026-11-02.jsonl",
        key="incoming/big/orders.jsonl",
        error_type="UploadTooLargeError",
        parameter_overrides={"MaxUploadBytes": "100"},
    ),
    FailureCase(
        id="process-no-rows",
        stage="process",
        body=(SAMPLES / "orders-flaky.csv").read_bytes().splitlines(keepends=True)[0],  # the header only
        key="incoming/bad/header only.csv",
        error_type="EmptyBatchError",
        item_status="FAILED",  # the item remembers the failure, so retries do not read the file again
    ),
    # The process stage records the rejection in its item before it fails the invocation.
    FailureCase(
        id="process-rejected",
        stage="process",
        body="orders-rejected.csv",
        key="incoming/bad/orders-rejected.csv",
        error_type="TooManyRejectedRowsError",
        item_status="REJECTED",
    ),
    FailureCase(
        id="audit-bucket-gone",
        stage="audit",
        body="orders-2026-11-01.csv",
        key="incoming/2026-11-01/orders.csv",
        error_type="NoSuchBucket",
        item_status="PROCESSED",
        before_run=delete_audit_bucket,
    ),
]


def s3_keys(event: Any) -> list[str]:
    return [unquote_plus(record["s3"]["object"]["key"]) for record in event["Records"]]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_failed_stage_sends_its_record_unchanged_to_the_alert_topic_and_the_debug_queue(
    start_pipeline: StartPipeline, case: FailureCase
) -> None:
    pipeline = start_pipeline(parameter_overrides=case.parameter_overrides)
    parts = pipeline.parts
    failed: FunctionSpec = getattr(parts, case.stage)
    retries = int(pipeline.stack.parameters["MaximumRetryAttempts"])
    # Given an upload the stage cannot handle
    pipeline.upload(case.body, case.key)
    if case.before_run is not None:
        case.before_run(pipeline)

    # When the pipeline has run (retries included)
    pipeline.run()

    # Then the stage was tried 1 + MaximumRetryAttempts times, failing each time the same way
    attempts = pipeline.events("attempt_finished", failed)
    assert [(a.outcome, a.error_type) for a in attempts] == [("error", case.error_type)] * (retries + 1)
    # ... after the stages before it succeeded once each; the stages after it never ran
    stage = parts.functions.index(failed)
    runs = [1] * stage + [retries + 1] + [0] * (len(parts.functions) - stage - 1)
    assert [len(pipeline.request_ids(function)) for function in parts.functions] == runs
    # ... one record was published to the alert topic
    (alert,) = pipeline.alerts()
    assert (alert.kind, alert.destination_type, alert.function, alert.ok) == (
        "on_failure",
        "sns",
        failed.name,
        True,
    )
    # ... and the debug queue holds that record, byte for byte
    (message,) = pipeline.debug_messages()
    assert message == alert.body
    record = json.loads(message)
    assert list(record) == RECORD_KEYS
    (request_id,) = set(pipeline.request_ids(failed))
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": parts.alias_arn(failed),
        "condition": "RetriesExhausted",
        "approximateInvokeCount": retries + 1,
    }
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": failed.aliases[parts.alias],
        "functionError": "Unhandled",
    }
    error = record["responsePayload"]
    assert error["errorType"] == case.error_type
    assert error["requestId"] == request_id
    assert error["stackTrace"]
    # ... whose request payload is the event the stage received: the S3 notification for
    # upload, the previous stage's Success record otherwise
    if failed is parts.upload:
        assert s3_keys(record["requestPayload"]) == [case.key]
        assert case.key in error["errorMessage"]
    else:
        (handoff,) = pipeline.deliveries_from(parts.functions[stage - 1], "on_success")
        assert record["requestPayload"] == json.loads(handoff.body)
    # ... and nothing after the failed stage was written
    assert [item["status"] for item in pipeline.items()] == ([case.item_status] if case.item_status else [])
    if failed is not parts.audit:  # (an audit failure here has no bucket to look in)
        assert pipeline.audit_versions() == []


def test_the_failure_route_counts_the_dropped_event(pipeline: Pipeline) -> None:
    parts = pipeline.parts
    attempts = int(pipeline.stack.parameters["MaximumRetryAttempts"]) + 1
    pipeline.upload("orders-rejected.csv", "incoming/bad/orders-rejected.csv")

    pipeline.run()

    # The dropped event is what the stack's AsyncEventsDropped alarm watches; the record
    # itself reached its destination (no DestinationDeliveryFailures).
    assert pipeline.metric(parts.process, "AsyncEventsDropped") == 1
    assert pipeline.metric(parts.process, "DestinationDeliveryFailures") == 0
    assert (
        pipeline.metric(parts.process, "Errors") == pipeline.metric(parts.process, "Invocations") == attempts
    )
    assert pipeline.metric(parts.upload, "AsyncEventsDropped") == 0
