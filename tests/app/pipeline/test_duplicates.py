"""At-least-once delivery: the same S3 notification arriving twice runs every stage
twice, yet the idempotent stages write one item and one audit entry."""

from __future__ import annotations

import pytest

from asyncrun.service.faults import Fault
from asyncrun.service.s3events import s3_key_encode
from tests.app.pipeline.conftest import Pipeline

pytestmark = pytest.mark.pipeline

SAMPLE = "orders-2026-11-01.csv"
KEY = "incoming/2026-11-01/orders batch.csv"


def test_a_notification_delivered_twice_writes_one_item_and_one_audit_entry(pipeline: Pipeline) -> None:
    parts = pipeline.parts
    # Given the upload's notification is delivered twice (S3 writes the key "+"-encoded)
    pipeline.inject(Fault(parts.upload.logical_id, "duplicate", times=1, match=s3_key_encode(KEY)))
    pipeline.upload(SAMPLE, KEY)

    # When the pipeline has run
    pipeline.run()

    # Then upload ran twice on the one event (same request id), and the stages after it twice
    upload_runs = pipeline.request_ids(parts.upload)
    assert len(upload_runs) == 2
    assert len(set(upload_runs)) == 1
    assert [e.source for e in pipeline.events("accepted", parts.upload)] == ["s3", "duplicate"]
    assert len(set(pipeline.request_ids(parts.process))) == 2
    assert len(set(pipeline.request_ids(parts.audit))) == 2
    # ... as the metrics show: upload's one queued event ran twice; each run handed process a
    # new event, and process's two runs handed audit two
    assert (
        pipeline.metric(parts.upload, "AsyncEventsReceived"),
        pipeline.metric(parts.upload, "Invocations"),
    ) == (
        1,
        2,
    )
    for function in (parts.process, parts.audit):
        assert pipeline.metric(function, "AsyncEventsReceived") == 2, function.logical_id
        assert pipeline.metric(function, "Invocations") == 2, function.logical_id
    # ... yet there is one item and one audit entry, written once (the bucket is versioned)
    (item,) = pipeline.items()
    assert item["status"] == "PROCESSED"
    ((audit_key, _),) = pipeline.audit_versions()
    assert audit_key.endswith(f"/{item[pipeline.process_key_attribute()]}.json")
    # ... written by the first run of each stage; the second returned the first's result
    first_process, _ = pipeline.request_ids(parts.process)
    first_audit, _ = pipeline.request_ids(parts.audit)
    assert item["process_request_id"] == first_process
    assert pipeline.audit_entry(audit_key)["stages"]["audit"]["request_id"] == first_audit
    # ... and both runs of each stage succeeded: nothing went the failure route
    assert pipeline.debug_messages() == []
    assert pipeline.alerts() == []
