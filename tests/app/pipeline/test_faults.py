"""Faults the pipeline does not cause but must survive, injected by asyncrun without
editing a handler: its AWS calls throttled, unavailable or failing; a stage that times
out or crashes; a failure route whose topic or queue is gone. Each run ends in one right
place: one process item and one audit entry, or one record in the debug queue with an
alert (or, where the route itself is gone, the loss counted as the service counts it).
README.md's "What happens when …" table lists these cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pytest

from asyncrun.service.faults import Fault, parse_fault
from asyncrun.stack.model import FunctionSpec
from tests.app.pipeline.conftest import Pipeline, StartPipeline

pytestmark = pytest.mark.pipeline

Stage = Literal["upload", "process", "audit"]
KEY = "incoming/2026-11-01/orders.csv"
SAMPLE = "orders-2026-11-01.csv"


def stage_function(pipeline: Pipeline, stage: Stage) -> FunctionSpec:
    function: FunctionSpec = getattr(pipeline.parts, stage)
    return function


def assert_done_once(pipeline: Pipeline) -> None:
    """The upload ended in its one right place: one item, one audit entry, no record."""
    assert [item["status"] for item in pipeline.items()] == ["PROCESSED"]
    assert len(pipeline.audit_versions()) == 1
    assert pipeline.alerts() == []
    assert pipeline.debug_messages() == []


def assert_failed_once(pipeline: Pipeline, failed: FunctionSpec) -> dict[str, object]:
    """The failed stage ran 1 + MaximumRetryAttempts times, the stages before it once each,
    those after it never; one record went to the alert topic and, unchanged, to the debug
    queue. Returns the record's responsePayload."""
    parts = pipeline.parts
    retries = int(pipeline.stack.parameters["MaximumRetryAttempts"])
    stage = parts.functions.index(failed)
    runs = [1] * stage + [retries + 1] + [0] * (len(parts.functions) - stage - 1)
    assert [len(pipeline.request_ids(function)) for function in parts.functions] == runs
    (alert,) = pipeline.alerts()
    assert (alert.kind, alert.function, alert.ok) == ("on_failure", failed.name, True)
    (message,) = pipeline.debug_messages()
    assert message == alert.body
    record = json.loads(message)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert pipeline.metric(failed, "AsyncEventsDropped") == 1
    assert pipeline.metric(failed, "DestinationDeliveryFailures") == 0
    if failed is not parts.audit:
        assert pipeline.audit_versions() == []
    payload: dict[str, object] = record["responsePayload"]
    return payload


# ---------------------------------------------------------------------- the functions' AWS calls


@dataclass(frozen=True)
class CallFaultCase:
    id: str
    stage: Stage
    fault: str  # after "<function>:aws:"
    error_type: str
    message: str  # in the error message: the service's error code and the operation
    items: list[str]  # the process-table items' statuses the run leaves


CALL_CASES = [
    # Every DynamoDB call throttled: the idempotency record cannot be written, so no work starts.
    CallFaultCase(
        "process-dynamodb-throttled",
        "process",
        "dynamodb:throttle",
        "IdempotencyPersistenceLayerError",
        "ProvisionedThroughputExceededException",
        [],
    ),
    CallFaultCase(
        "process-dynamodb-unavailable",
        "process",
        "dynamodb:unavailable",
        "IdempotencyPersistenceLayerError",
        "ServiceUnavailable",
        [],
    ),
    # The upload's metadata checks pass; reading the object for its fingerprint fails.
    CallFaultCase(
        "upload-s3-read-error",
        "upload",
        "s3.GetObject:error",
        "ClientError",
        "(InternalError) when calling the GetObject operation",
        [],
    ),
]


@pytest.mark.parametrize("case", CALL_CASES, ids=lambda case: case.id)
def test_an_aws_call_that_keeps_failing_ends_in_the_debug_queue_after_the_sdks_and_lambdas_retries(
    start_pipeline: StartPipeline, case: CallFaultCase
) -> None:
    pipeline = start_pipeline()
    failed = stage_function(pipeline, case.stage)
    fault = parse_fault(f"{failed.logical_id}:aws:{case.fault}")
    pipeline.inject(fault)
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    error = assert_failed_once(pipeline, failed)
    assert error["errorType"] == case.error_type
    assert case.message in str(error["errorMessage"])
    assert [item["status"] for item in pipeline.items()] == case.items
    # each Lambda attempt's call was tried by the SDK too (standard mode: 3 attempts)
    retries = int(pipeline.stack.parameters["MaximumRetryAttempts"])
    assert fault.triggered == 3 * (retries + 1)


def test_a_throttle_the_sdks_retries_absorb_costs_no_lambda_retry(start_pipeline: StartPipeline) -> None:
    pipeline = start_pipeline()
    # Given two throttled DynamoDB requests, fewer than the SDK's three attempts
    fault = parse_fault(f"{pipeline.parts.process.logical_id}:aws:dynamodb:throttle::2")
    pipeline.inject(fault)
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    assert fault.triggered == 2
    assert [len(pipeline.request_ids(function)) for function in pipeline.parts.functions] == [1, 1, 1]
    assert_done_once(pipeline)


# PutItem: the first is the idempotency record's, before any work. UpdateItem: the
# first marks that record done, after the item was written; the retry runs the stage
# again, and the item's conditional write keeps the first PROCESSED outcome.
@pytest.mark.parametrize(
    ("operation", "failed_step"),
    [
        ("PutItem", "Failed to save in progress record"),
        ("UpdateItem", "Failed to update record state to success"),
    ],
)
def test_a_dynamodb_outage_in_the_middle_of_process_is_retried_and_nothing_is_done_twice(
    start_pipeline: StartPipeline, operation: str, failed_step: str
) -> None:
    pipeline = start_pipeline()
    # Given the first attempt's writes of one kind fail past the SDK's retries
    fault = parse_fault(f"{pipeline.parts.process.logical_id}:aws:dynamodb.{operation}:unavailable::3")
    pipeline.inject(fault)
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    # Then process's first attempt failed, Lambda's retry succeeded, and the upload ended
    # in one item and one audit entry
    attempts = pipeline.events("attempt_finished", pipeline.parts.process)
    assert [a.outcome for a in attempts] == ["error", "success"]
    assert attempts[0].error_type == "IdempotencyPersistenceLayerError"
    assert failed_step in str(attempts[0].error_message)
    assert f"(ServiceUnavailable) when calling the {operation} operation" in str(attempts[0].error_message)
    assert fault.triggered == 3
    assert len(pipeline.request_ids(pipeline.parts.audit)) == 1
    assert_done_once(pipeline)


# ---------------------------------------------------------------------- timeouts and crashes


STAGES: list[Stage] = ["upload", "process", "audit"]
FAILURES = {"timeout": "Sandbox.Timedout", "crash": "Runtime.ExitError"}


@pytest.mark.parametrize("kind", sorted(FAILURES))
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_that_always_times_out_or_crashes_ends_in_the_debug_queue(
    start_pipeline: StartPipeline, stage: Stage, kind: Literal["timeout", "crash"]
) -> None:
    pipeline = start_pipeline()
    failed = stage_function(pipeline, stage)
    pipeline.inject(Fault(failed.logical_id, kind))
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    error = assert_failed_once(pipeline, failed)
    assert error["errorType"] == FAILURES[kind]
    (request_id,) = set(pipeline.request_ids(failed))
    assert str(error["errorMessage"]).startswith(f"RequestId: {request_id} Error: ")
    outcomes = {a.outcome for a in pipeline.events("attempt_finished", failed)}
    assert outcomes == {"timeout" if kind == "timeout" else "error"}
    # the stages before it finished their work once: process wrote its item before audit ran
    statuses = [item["status"] for item in pipeline.items()]
    assert statuses == (["PROCESSED"] if stage == "audit" else [])


@pytest.mark.parametrize("kind", sorted(FAILURES))
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_that_times_out_or_crashes_once_is_retried_and_nothing_is_done_twice(
    start_pipeline: StartPipeline, stage: Stage, kind: Literal["timeout", "crash"]
) -> None:
    pipeline = start_pipeline()
    failed = stage_function(pipeline, stage)
    pipeline.inject(Fault(failed.logical_id, kind, times=1))
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    runs = [2 if function is failed else 1 for function in pipeline.parts.functions]
    assert [len(pipeline.request_ids(function)) for function in pipeline.parts.functions] == runs
    assert_done_once(pipeline)


# ---------------------------------------------------------------------- the failure route itself


def delete_alert_topic(pipeline: Pipeline) -> None:
    pipeline.endpoint.client("sns").delete_topic(TopicArn=pipeline.parts.alert_topic.arn)


def delete_debug_queue(pipeline: Pipeline) -> None:
    pipeline.endpoint.client("sqs").delete_queue(QueueUrl=pipeline.parts.debug_queue.url)


# The alert topic gone: Lambda cannot deliver the record, counts DestinationDeliveryFailures
# (its alarm is then the only signal) and the record is lost. The debug queue gone:
# Lambda's delivery to the topic succeeds (nothing counted); SNS's delivery to the
# missing queue is SNS's to retry and drop, out of Lambda's sight.
@pytest.mark.parametrize(
    ("break_route", "delivered", "delivery_failures"),
    [(delete_alert_topic, False, 1), (delete_debug_queue, True, 0)],
    ids=["alert-topic-gone", "debug-queue-gone"],
)
def test_with_the_failure_route_broken_the_record_is_lost_and_counted_only_when_lambda_could_not_deliver(
    pipeline: Pipeline, break_route: Callable[[Pipeline], None], delivered: bool, delivery_failures: int
) -> None:
    parts = pipeline.parts
    pipeline.inject(Fault(parts.process.logical_id, "crash"))
    break_route(pipeline)
    pipeline.upload(SAMPLE, KEY)

    pipeline.run()

    (alert,) = pipeline.alerts()
    assert (alert.function, alert.ok) == (parts.process.name, delivered)
    assert pipeline.metric(parts.process, "DestinationDeliveryFailures") == delivery_failures
    assert pipeline.metric(parts.process, "AsyncEventsDropped") == 1
    assert [item["status"] for item in pipeline.items()] == []
    if break_route is delete_alert_topic:  # (the other case has no queue to read)
        assert pipeline.debug_messages() == []
