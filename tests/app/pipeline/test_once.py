"""Work that is done once, whatever Lambda repeats: retries of a failure that will fail
again do not read the upload again, and a delivery after the idempotency window or
during another delivery writes no second item or audit entry and raises no alert."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.app.pipeline.conftest import Pipeline, StartPipeline

pytestmark = pytest.mark.pipeline

GOOD = "orders-2026-11-01.csv"
GOOD_KEY = "incoming/2026-11-01/orders.csv"


def _delete_uploads(pipeline: Pipeline) -> None:
    s3 = pipeline.endpoint.client("s3")
    bucket = pipeline.parts.upload_bucket.name
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def _idempotency_table(pipeline: Pipeline) -> str:
    return pipeline.parts.process.environment["IDEMPOTENCY_TABLE_NAME"]


def _expire_idempotency_records(pipeline: Pipeline) -> None:
    """What the records' expiry does after 24 hours (Powertools then treats them as absent)."""
    dynamodb = pipeline.endpoint.client("dynamodb")
    table = _idempotency_table(pipeline)
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})


def test_retries_of_a_rejected_batch_fail_from_memory_without_reading_the_upload(pipeline: Pipeline) -> None:
    parts = pipeline.parts
    retries = int(pipeline.stack.parameters["MaximumRetryAttempts"])
    pipeline.upload("orders-rejected.csv", "incoming/bad/orders-rejected.csv")
    # Given process's first attempt has failed on the batch (the two units of work:
    # upload's attempt, then process's first)
    pipeline.engine.run_until_idle(max_events=2)
    (first,) = pipeline.events("attempt_finished", parts.process)
    assert (first.outcome, first.error_type) == ("error", "TooManyRejectedRowsError")
    # ... and the upload is gone now: an attempt that read it would fail with UploadNotFoundError
    _delete_uploads(pipeline)

    # When Lambda's retries run
    pipeline.run()

    # Then each retry failed the same way, without the object
    attempts = pipeline.events("attempt_finished", parts.process)
    assert [(a.outcome, a.error_type) for a in attempts] == [("error", "TooManyRejectedRowsError")] * (
        retries + 1
    )
    assert len({a.error_message for a in attempts}) == 1
    # ... and one record reached the debug queue, after the last attempt
    (message,) = pipeline.debug_messages()
    record = json.loads(message)
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["responsePayload"]["errorType"] == "TooManyRejectedRowsError"
    assert len(pipeline.alerts()) == 1
    (item,) = pipeline.items()
    assert (item["status"], item["error_type"]) == ("REJECTED", "TooManyRejectedRowsError")


@dataclass(frozen=True)
class FirstRun:
    handoff: str  # upload's Success record, as process received it
    item: dict[str, Any]
    audit_version: tuple[str, str]

    def assert_nothing_written_again(self, pipeline: Pipeline) -> None:
        assert pipeline.items() == [self.item]
        assert pipeline.audit_versions() == [self.audit_version]


def _through_the_chain(pipeline: Pipeline) -> FirstRun:
    pipeline.upload(GOOD, GOOD_KEY)
    pipeline.run()
    (handoff,) = pipeline.deliveries_from(pipeline.parts.upload, "on_success")
    (item,) = pipeline.items()
    (audit_version,) = pipeline.audit_versions()
    return FirstRun(handoff.body, item, audit_version)


def _deliver_to_process_again(pipeline: Pipeline, first: FirstRun) -> None:
    pipeline.engine.invoke_async(pipeline.parts.process.name, first.handoff, qualifier=pipeline.parts.alias)
    pipeline.run()


def test_a_redrive_after_the_idempotency_window_writes_no_second_item_or_entry(pipeline: Pipeline) -> None:
    parts = pipeline.parts
    # Given the upload went through the whole chain, and the idempotency records have expired since
    first = _through_the_chain(pipeline)
    _expire_idempotency_records(pipeline)

    # When upload's Success record is sent to process again (a redrive, days later)
    _deliver_to_process_again(pipeline, first)

    # Then both stages ran again and succeeded ...
    assert len(pipeline.request_ids(parts.process)) == 2
    assert len(pipeline.request_ids(parts.audit)) == 2
    assert pipeline.alerts() == []
    # ... yet the item is the first one, and the audit entry was written once
    first.assert_nothing_written_again(pipeline)


def test_a_duplicate_meeting_another_in_progress_with_no_retries_raises_no_alert(
    start_pipeline: StartPipeline,
) -> None:
    pipeline = start_pipeline(parameter_overrides={"MaximumRetryAttempts": "0"})
    parts = pipeline.parts
    # Given the upload went through the chain once ...
    first = _through_the_chain(pipeline)
    # ... and another delivery of it holds the process and audit idempotency records (in progress)
    dynamodb = pipeline.endpoint.client("dynamodb")
    table = _idempotency_table(pipeline)
    now = time.time()  # Powertools reads the wall clock, not the run's virtual one
    for item in dynamodb.scan(TableName=table)["Items"]:
        in_progress = {
            "id": item["id"],
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(now) + 3600)},
            "in_progress_expiration": {"N": str(int(now * 1000) + 600_000)},
        }
        dynamodb.put_item(TableName=table, Item=in_progress)

    # When a duplicate of upload's record reaches process, with no retry to absorb a failure
    _deliver_to_process_again(pipeline, first)

    # Then nothing failed: no record, no alert
    for function in (parts.process, parts.audit):
        assert [a.outcome for a in pipeline.events("attempt_finished", function)] == ["success", "success"]
    assert pipeline.alerts() == []
    assert pipeline.debug_messages() == []
    # ... and there is still one item and one audit entry
    first.assert_nothing_written_again(pipeline)
