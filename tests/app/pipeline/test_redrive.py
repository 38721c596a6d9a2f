"""Redrive: once the cause of a failure is gone, the record in the debug queue is
replayed with its original request payload, and the pipeline finishes the work."""

from __future__ import annotations

import json

import pytest

from asyncrun.cli.redrive import redrive
from asyncrun.service.faults import Fault
from tests.app.pipeline.conftest import Pipeline

pytestmark = pytest.mark.pipeline

SAMPLE = "orders-flaky.csv"
KEY = "incoming/flaky/orders-flaky.csv"


@pytest.fixture
def failed(pipeline: Pipeline) -> Pipeline:
    """Process failed on every attempt at one upload (an outage that is over: the fault
    is used up), so its record waits in the debug queue."""
    parts = pipeline.parts
    retries = int(pipeline.stack.parameters["MaximumRetryAttempts"])
    pipeline.inject(Fault(parts.process.logical_id, "error", times=retries + 1, match=KEY))
    pipeline.upload(SAMPLE, KEY)
    pipeline.run()
    assert pipeline.debug_queue_depth() == 1
    assert pipeline.items() == []
    return pipeline


def test_a_redriven_record_finishes_the_work(failed: Pipeline) -> None:
    parts = failed.parts
    (upload_rid,) = failed.request_ids(parts.upload)
    (original_rid,) = set(failed.request_ids(parts.process))

    # When the debug queue is redriven
    report = redrive(failed.engine, parts.debug_queue)
    failed.run()

    # Then the record was replayed, through the alias the record names
    assert report.dry_run is False
    assert report.left == []
    (redriven,) = report.redriven
    assert (redriven.function_arn, redriven.original_request_id, redriven.condition) == (
        parts.alias_arn(parts.process),
        original_rid,
        "RetriesExhausted",
    )
    assert redriven.request_id is not None
    assert redriven.request_id != original_rid
    # ... process succeeded on it, and audit followed
    (item,) = failed.items()
    assert item["status"] == "PROCESSED"
    assert (item["upload_request_id"], item["process_request_id"]) == (upload_rid, redriven.request_id)
    ((audit_key, _),) = failed.audit_versions()
    stages = failed.audit_entry(audit_key)["stages"]
    assert stages["upload"]["request_id"] == upload_rid
    assert stages["process"]["request_id"] == redriven.request_id
    assert stages["process"]["function_arn"] == parts.alias_arn(parts.process)
    # ... and the debug queue is empty; no new alert was raised
    assert failed.debug_queue_depth() == 0
    assert len(failed.alerts()) == 1


def test_a_dry_run_redrive_invokes_nothing_and_deletes_nothing(failed: Pipeline) -> None:
    parts = failed.parts
    trace_before = len(failed.engine.trace)

    report = redrive(failed.engine, parts.debug_queue, dry_run=True)
    failed.run()

    # The record is reported as what would be redriven ...
    assert report.dry_run is True
    (redriven,) = report.redriven
    assert redriven.function_arn == parts.alias_arn(parts.process)
    assert redriven.request_id is None
    # ... but nothing was invoked, and the record is still in the debug queue, visible
    assert len(failed.engine.trace) == trace_before
    assert failed.items() == []
    (message,) = failed.debug_messages()
    assert json.loads(message)["requestContext"]["requestId"] == redriven.original_request_id
