"""The audit stage: one entry per upload, dated by the record, with the whole chain."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pipeline.errors import InvalidEventError

from tests.support.events import load_event, sample_bytes
from tests.support.records import success_record
from tests.support.storage import Invoke, StackStorage, Upload
from tests.support.template import Template

CSV_KEY = "incoming/2026-11-01/orders batch.csv"


@pytest.fixture
def process_record(invoke: Invoke, upload_record: Upload, template: Template) -> dict[str, Any]:
    """process's Success record for the good CSV, as audit receives it."""
    record = upload_record(CSV_KEY, sample_bytes("orders-2026-11-01.csv"), request_id="upload-request")
    result = invoke("ProcessFunction", record, request_id="process-request")
    return success_record(
        template,
        "ProcessFunction",
        record,
        result,
        request_id="process-request",
        timestamp="2026-11-30T23:59:59.999Z",
        approximate_invoke_count=2,
    )


def _entry(bucket: str, key: str) -> tuple[dict[str, Any], Any]:
    response = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    return json.loads(response["Body"].read()), response


def test_given_process_record_when_audited_then_entry_is_dated_by_the_record(
    invoke: Invoke, process_record: dict[str, Any], storage: StackStorage
) -> None:
    # When
    result = invoke("AuditFunction", process_record, request_id="audit-request")

    # Then
    (ref,) = result["entries"]
    upload_id = process_record["responsePayload"]["processed"][0]["upload_id"]
    assert ref["bucket"] == storage.audit_bucket
    assert ref["key"] == f"audit/year=2026/month=11/day=30/{upload_id}.json"
    assert ref["version_id"]
    _, response = _entry(ref["bucket"], ref["key"])
    assert response["ContentType"] == "application/json"
    assert response["ServerSideEncryption"] == "AES256"


def test_given_process_record_when_audited_then_entry_holds_the_whole_chain(
    invoke: Invoke, process_record: dict[str, Any], template: Template
) -> None:
    # When
    ref = invoke("AuditFunction", process_record, request_id="audit-request")["entries"][0]

    # Then
    entry, _ = _entry(ref["bucket"], ref["key"])
    upload_record = process_record["requestPayload"]
    processed = process_record["responsePayload"]["processed"][0]
    assert entry["upload_id"] == processed["upload_id"]
    assert entry["correlation_id"] == processed["upload_id"]
    assert entry["upload"]["sha256"] == processed["upload"]["sha256"]
    assert entry["outcome"]["status"] == "PROCESSED"
    assert entry["outcome"]["totals"] == processed["totals"]
    stages = entry["stages"]
    assert stages["upload"]["request_id"] == "upload-request"
    assert stages["upload"]["function_arn"] == upload_record["requestContext"]["functionArn"]
    assert stages["upload"]["condition"] == "Success"
    assert stages["process"]["request_id"] == "process-request"
    assert stages["process"]["approximate_invoke_count"] == 2
    assert stages["process"]["executed_version"] == "1"
    assert stages["process"]["timestamp"].startswith("2026-11-30T23:59:59.999")
    assert stages["audit"]["request_id"] == "audit-request"
    assert stages["audit"]["function_arn"].endswith(
        f":function:{template.physical_name('AuditFunction')}:live"
    )
    assert stages["audit"]["executed_version"] == "1"


def test_given_same_record_twice_when_audited_then_one_entry_and_the_same_result(
    invoke: Invoke, process_record: dict[str, Any], storage: StackStorage
) -> None:
    # When
    first = invoke("AuditFunction", process_record, request_id="audit-1")
    second = invoke("AuditFunction", process_record, request_id="audit-2")

    # Then: one object, one version (the bucket is versioned: a rewrite would show)
    assert second == first
    versions = boto3.client("s3").list_object_versions(Bucket=storage.audit_bucket)["Versions"]
    assert [version["Key"] for version in versions] == [first["entries"][0]["key"]]


def test_given_entry_then_audit_metric_is_emitted(
    invoke: Invoke, process_record: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    invoke("AuditFunction", process_record)

    emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    assert emf["AuditEntriesWritten"] == [1.0]


def test_given_audit_record_file_when_audited_then_entry_written(
    invoke: Invoke, storage: StackStorage
) -> None:
    # Given: the sample record (audit reads no object, so nothing else is needed)
    record = load_event("audit/process-success.json")

    # When
    ref = invoke("AuditFunction", record)["entries"][0]

    # Then
    entry, _ = _entry(storage.audit_bucket, ref["key"])
    assert ref["key"].startswith("audit/year=2026/month=11/day=01/")
    assert entry["stages"]["upload"]["request_id"] == record["requestPayload"]["requestContext"]["requestId"]
    assert entry["stages"]["process"]["request_id"] == record["requestContext"]["requestId"]


def test_given_failure_record_when_audited_then_refused(invoke: Invoke, storage: StackStorage) -> None:
    with pytest.raises(InvalidEventError, match="ZeroReservedConcurrency"):
        invoke("AuditFunction", load_event("failures/zero-reserved-concurrency.json"))
