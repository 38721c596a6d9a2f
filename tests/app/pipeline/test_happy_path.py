"""A good order batch goes through upload -> process -> audit: one process-table item,
one audit entry that chains the three invocations, and nothing in the failure route."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pytest

from tests.app.pipeline.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.pipeline


@dataclass(frozen=True)
class Batch:
    """A sample file and what samples/README.md says of it."""

    file: str
    key: str
    format: str
    rows: int
    rejected: dict[int, str] = field(default_factory=dict)  # data row -> the field its reason names

    def rows_read(self) -> list[dict[str, object]]:
        text = (SAMPLES / self.file).read_text()
        if self.format == "csv":
            return list(csv.DictReader(io.StringIO(text)))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def totals(self) -> dict[str, Decimal]:
        """Per currency, quantity x unit price of every row the README does not reject."""
        totals: defaultdict[str, Decimal] = defaultdict(Decimal)
        for number, row in enumerate(self.rows_read(), start=1):
            if number not in self.rejected:
                totals[str(row["currency"])] += int(str(row["quantity"])) * Decimal(str(row["unit_price"]))
        return dict(totals)


GOOD_BATCHES = [
    Batch(
        file="orders-2026-11-01.csv",
        # A key with a space: S3 writes it as "+" in the event, the stages must decode it.
        key="incoming/2026-11-01/orders batch.csv",
        format="csv",
        rows=36,
        rejected={10: "quantity", 23: "currency"},  # quantity 0; currency "euro"
    ),
    Batch(file="orders-2026-11-02.jsonl", key="incoming/2026-11-02/orders.jsonl", format="jsonl", rows=20),
]


@pytest.mark.parametrize("batch", GOOD_BATCHES, ids=lambda batch: batch.format)
def test_a_good_batch_ends_as_one_item_and_one_audit_entry_chaining_the_three_stages(
    pipeline: Pipeline, batch: Batch
) -> None:
    parts = pipeline.parts
    # Given a good batch put into the upload bucket
    version = pipeline.upload(batch.file, batch.key)

    # When the pipeline has run
    pipeline.run()

    # Then each stage ran once, in its own invocation through the alias
    (upload_rid,) = pipeline.request_ids(parts.upload)
    (process_rid,) = pipeline.request_ids(parts.process)
    (audit_rid,) = pipeline.request_ids(parts.audit)
    assert len({upload_rid, process_rid, audit_rid}) == 3
    # ... the process table holds one item, with the batch's counts and totals
    (item,) = pipeline.items()
    upload_id = item[pipeline.process_key_attribute()]
    assert item["status"] == "PROCESSED"
    assert (item["bucket"], item["key"], item["version_id"]) == (parts.upload_bucket.name, batch.key, version)
    assert item["format"] == batch.format
    assert item["sha256"] == hashlib.sha256((SAMPLES / batch.file).read_bytes()).hexdigest()
    assert item["total_rows"] == batch.rows
    assert item["rejected_rows"] == len(batch.rejected)
    assert item["valid_rows"] == batch.rows - len(batch.rejected)
    assert item["totals"] == batch.totals()
    assert {sample["row"]: sample["reason"].split(":")[0] for sample in item["rejected_samples"]} == (
        batch.rejected
    )
    assert (item["upload_request_id"], item["process_request_id"]) == (upload_rid, process_rid)
    assert item["correlation_id"] == upload_id
    # ... the audit bucket holds one entry, at the date-partitioned key of the upload's S3 event
    ((audit_key, _),) = pipeline.audit_versions()
    entry = pipeline.audit_entry(audit_key)
    uploaded = datetime.fromisoformat(entry["upload"]["event_time"])
    assert audit_key == f"audit/year={uploaded:%Y}/month={uploaded:%m}/day={uploaded:%d}/{upload_id}.json"
    assert (entry["upload_id"], entry["correlation_id"]) == (upload_id, upload_id)
    assert entry["upload"]["key"] == batch.key
    assert entry["outcome"]["status"] == "PROCESSED"
    assert entry["outcome"]["total_rows"] == batch.rows
    assert {currency: Decimal(total) for currency, total in entry["outcome"]["totals"].items()} == (
        batch.totals()
    )
    # ... chaining every stage's invocation: request id, alias ARN, version run
    stages = entry["stages"]
    for stage, function, request_id in (
        ("upload", parts.upload, upload_rid),
        ("process", parts.process, process_rid),
        ("audit", parts.audit, audit_rid),
    ):
        assert stages[stage]["request_id"] == request_id
        assert stages[stage]["function_arn"] == parts.alias_arn(function)
        assert stages[stage]["executed_version"] == function.aliases[parts.alias]
    # ... and the two stages before audit with their record's outcome (audit's own record
    # does not exist while it writes)
    for stage in ("upload", "process"):
        assert (stages[stage]["condition"], stages[stage]["approximate_invoke_count"]) == ("Success", 1)
    # ... the audit write named the bucket's owner, as deployed: the context gives the
    # stack's account, not sam local's placeholder
    (audit_attempt,) = pipeline.events("attempt_finished", parts.audit)
    assert audit_attempt.logs
    assert "audit entry written" in audit_attempt.logs
    assert "owner is not checked" not in audit_attempt.logs
    # ... and nothing went the failure route
    assert pipeline.debug_messages() == []
    assert pipeline.alerts() == []


def test_each_stage_hands_its_success_record_to_the_next_through_the_alias(pipeline: Pipeline) -> None:
    parts = pipeline.parts
    batch = GOOD_BATCHES[0]
    pipeline.upload(batch.file, batch.key)

    pipeline.run()

    # upload -> process -> audit, each an OnSuccess delivery to the next stage's alias
    handoffs = [
        (d.function, d.target_arn, json.loads(d.body)["requestContext"]["condition"])
        for d in pipeline.engine.deliveries
    ]
    assert handoffs == [
        (parts.upload.name, parts.alias_arn(parts.process), "Success"),
        (parts.process.name, parts.alias_arn(parts.audit), "Success"),
    ]
    # and audit, the end of the chain, has no OnSuccess destination: nothing after it
    assert pipeline.deliveries_from(parts.audit, "on_success") == []


def test_a_new_version_of_the_same_key_is_new_work(pipeline: Pipeline) -> None:
    batch = GOOD_BATCHES[0]
    # Given a batch that went through the pipeline
    first = pipeline.upload(batch.file, batch.key)
    pipeline.run()

    # When the same key is uploaded again (a new object version)
    second = pipeline.upload(batch.file, batch.key)
    pipeline.run()

    # Then the second version is a second upload, with its own item and audit entry
    items = pipeline.items()
    assert sorted(item["version_id"] for item in items) == sorted([first, second])
    assert {item["key"] for item in items} == {batch.key}
    upload_ids = {item[pipeline.process_key_attribute()] for item in items}
    assert len(upload_ids) == 2
    audit_keys = [key for key, _ in pipeline.audit_versions()]
    assert sorted(key.rsplit("/", 1)[1] for key in audit_keys) == sorted(f"{i}.json" for i in upload_ids)
