"""The audit stage: one entry per upload, dated by the upload's S3 event, with the whole
chain, written once whatever is delivered again."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def test_given_process_record_when_audited_then_entry_is_dated_by_the_upload_event(
    invoke: Invoke, process_record: dict[str, Any], storage: StackStorage
) -> None:
    # Given: the upload's S3 event is of another day than process's record (2026-11-30)
    processed = process_record["responsePayload"]["processed"][0]
    assert processed["upload"]["event_time"].startswith("2026-11-01")

    # When
    result = invoke("AuditFunction", process_record, request_id="audit-request")

    # Then
    (ref,) = result["entries"]
    assert ref["bucket"] == storage.audit_bucket
    assert ref["key"] == f"audit/year=2026/month=11/day=01/{processed['upload_id']}.json"
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


def test_given_redrive_after_the_idempotency_window_when_audited_then_no_second_entry(
    invoke: Invoke, process_record: dict[str, Any], storage: StackStorage
) -> None:
    # Given: the entry was written, then the idempotency record expired (gone from the table)
    first = invoke("AuditFunction", process_record, request_id="audit-1")
    dynamodb = boto3.client("dynamodb")
    for item in dynamodb.scan(TableName=storage.idempotency_table)["Items"]:
        dynamodb.delete_item(TableName=storage.idempotency_table, Key={"id": item["id"]})
    # ... and process's record is redriven days later: a new request id and timestamp
    late = json.loads(json.dumps(process_record))
    late["requestContext"]["requestId"] = "process-redriven"
    late["timestamp"] = "2026-12-09T08:00:00.000Z"

    # When
    second = invoke("AuditFunction", late, request_id="audit-2")

    # Then: the same key, refused as existing; one version, the first delivery's entry
    (ref,) = second["entries"]
    assert ref["key"] == first["entries"][0]["key"]
    assert ref["version_id"] is None
    versions = boto3.client("s3").list_object_versions(Bucket=storage.audit_bucket)["Versions"]
    assert [(v["Key"], v["VersionId"]) for v in versions] == [(ref["key"], first["entries"][0]["version_id"])]
    entry, _ = _entry(storage.audit_bucket, ref["key"])
    assert entry["stages"]["audit"]["request_id"] == "audit-1"


def _put_object_calls() -> list[dict[str, Any]]:
    """The put_object calls the function makes from now on, as botocore receives them."""
    from pipeline import clients

    calls: list[dict[str, Any]] = []
    clients.s3().meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: calls.append(dict(params))
    )
    return calls


def test_given_audit_write_then_it_is_conditional_and_names_the_functions_account(
    invoke: Invoke, process_record: dict[str, Any], storage: StackStorage, template: Template
) -> None:
    calls = _put_object_calls()

    invoke("AuditFunction", process_record)

    (params,) = calls
    assert params["ExpectedBucketOwner"] == template.account_id
    assert params["IfNoneMatch"] == "*"
    # ... and the entry is one JSON object on one line, as Athena and Glue read them
    body = params["Body"]
    assert body.endswith(b"\n")
    assert body.count(b"\n") == 1
    assert json.loads(body)["schema_version"] == "1"


def test_given_sam_local_then_the_placeholder_account_is_not_asserted_and_a_warning_says_so(
    invoke: Invoke,
    process_record: dict[str, Any],
    storage: StackStorage,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], list[dict]],
) -> None:
    # Given: sam local's runtime emulator, whose context ARN names a placeholder account
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    calls = _put_object_calls()

    # When
    invoke("AuditFunction", process_record, account_id="012345678912")

    # Then
    (params,) = calls
    assert "ExpectedBucketOwner" not in params
    assert params["IfNoneMatch"] == "*"
    assert any("owner is not checked" in line["message"] for line in log_lines())


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


def test_given_a_local_runner_that_names_the_stacks_account_then_the_owner_is_still_asserted(
    invoke: Invoke,
    process_record: dict[str, Any],
    storage: StackStorage,
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], list[dict]],
) -> None:
    # Given: AWS_SAM_LOCAL set (asyncrun sets it, as sam local does) but a context in the
    # stack's own account, as asyncrun gives
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    calls = _put_object_calls()

    # When
    invoke("AuditFunction", process_record)

    # Then: the write is the deployed one
    (params,) = calls
    assert params["ExpectedBucketOwner"] == template.account_id
    assert not any("owner is not checked" in line["message"] for line in log_lines())
