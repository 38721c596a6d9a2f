"""The upload stage: checks, fingerprint, upload id, and its handler."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from pipeline import objects
from pipeline.errors import EmptyUploadError, UnsupportedFormatError, UploadNotFoundError, UploadTooLargeError
from pipeline.events import S3EventNotification
from pipeline.uploads import accept_upload, detect_format, upload_id_for

from tests.support.events import load_event, put_and_pin, sample_bytes
from tests.support.storage import Invoke, StackStorage
from tests.support.template import Template

KEY = "incoming/2026-11-01/orders batch.csv"
CSV = sample_bytes("orders-2026-11-01.csv")


@pytest.fixture
def s3(storage: StackStorage) -> Any:
    return boto3.client("s3")


def _event_for(bucket: str, key: str, version_id: str | None, *, encoded_key: str | None = None) -> dict:
    event = copy.deepcopy(load_event("upload/s3-put.json"))
    obj = event["Records"][0]["s3"]["object"]
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    obj["key"] = encoded_key or key.replace(" ", "+")
    if version_id is None:
        obj.pop("versionId")
    else:
        obj["versionId"] = version_id
    return event


def test_given_csv_upload_when_handled_then_result_describes_and_fingerprints_it(
    invoke: Invoke, s3: Any, storage: StackStorage
) -> None:
    # Given
    event = put_and_pin(s3, load_event("upload/s3-put.json"), {KEY: CSV})
    version_id = event["Records"][0]["s3"]["object"]["versionId"]

    # When
    result = invoke("UploadFunction", event)

    # Then
    (upload,) = result["uploads"]
    assert upload["bucket"] == storage.upload_bucket
    assert upload["key"] == KEY
    assert upload["version_id"] == version_id
    assert upload["size"] == len(CSV)
    assert upload["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert upload["format"] == "csv"
    assert upload["upload_id"] == upload_id_for(storage.upload_bucket, KEY, version_id)
    assert upload["correlation_id"] == upload["upload_id"]
    json.dumps(result)  # what Lambda serializes as the response payload


def test_given_same_version_delivered_twice_then_same_upload_id_and_new_version_gets_another(
    invoke: Invoke, s3: Any
) -> None:
    # Given
    first_event = put_and_pin(s3, load_event("upload/s3-put.json"), {KEY: CSV})

    # When: the same notification twice, then a new version of the same key
    first = invoke("UploadFunction", first_event)["uploads"][0]
    again = invoke("UploadFunction", first_event)["uploads"][0]
    second_event = put_and_pin(s3, load_event("upload/s3-put.json"), {KEY: CSV})
    second = invoke("UploadFunction", second_event)["uploads"][0]

    # Then
    assert again["upload_id"] == first["upload_id"]
    assert second["upload_id"] != first["upload_id"]
    assert second["sha256"] == first["sha256"]


def test_given_object_of_several_chunks_when_fingerprinted_then_streamed_in_bounded_reads(
    monkeypatch: pytest.MonkeyPatch, s3: Any, storage: StackStorage
) -> None:
    # Given: chunks far smaller than the object, and every read recorded
    monkeypatch.setattr(objects, "CHUNK_BYTES", 64)
    reads: list[int | None] = []
    original_read = StreamingBody.read

    def recording_read(self: StreamingBody, amt: int | None = None) -> bytes:
        reads.append(amt)
        return original_read(self, amt)

    monkeypatch.setattr(StreamingBody, "read", recording_read)
    version = s3.put_object(Bucket=storage.upload_bucket, Key=KEY, Body=CSV)["VersionId"]

    # When
    digest, size = objects.sha256(storage.upload_bucket, KEY, version)

    # Then
    assert (digest, size) == (hashlib.sha256(CSV).hexdigest(), len(CSV))
    assert len(reads) > len(CSV) // 64
    assert all(amount == 64 for amount in reads)  # never one read of the whole object


def test_given_empty_object_when_handled_then_empty_upload_error(
    invoke: Invoke, s3: Any, storage: StackStorage
) -> None:
    version = s3.put_object(Bucket=storage.upload_bucket, Key="incoming/empty.csv", Body=b"")["VersionId"]

    with pytest.raises(EmptyUploadError, match="is empty"):
        invoke("UploadFunction", _event_for(storage.upload_bucket, "incoming/empty.csv", version))


@pytest.mark.parametrize(("limit", "accepted"), [(len(CSV), True), (len(CSV) - 1, False)])
def test_given_size_limit_when_checked_then_only_larger_objects_are_refused(
    s3: Any, storage: StackStorage, limit: int, accepted: bool
) -> None:
    # Given
    version = s3.put_object(Bucket=storage.upload_bucket, Key=KEY, Body=CSV)["VersionId"]
    record = S3EventNotification.model_validate(_event_for(storage.upload_bucket, KEY, version)).records[0]

    # When / Then
    if accepted:
        assert accept_upload(record, max_bytes=limit).size == len(CSV)
    else:
        with pytest.raises(UploadTooLargeError, match=f"over the limit of {limit} bytes"):
            accept_upload(record, max_bytes=limit)


@pytest.mark.parametrize(
    ("key", "body", "error"),
    [
        ("incoming/orders.xlsx", b"PK\x03\x04" * 1000, UnsupportedFormatError),
        ("incoming/empty.csv", b"", EmptyUploadError),
    ],
)
def test_given_upload_a_retry_cannot_fix_when_handled_then_failed_without_reading_it(
    invoke: Invoke, s3: Any, storage: StackStorage, key: str, body: bytes, error: type[Exception]
) -> None:
    # Given: every call the function makes to S3
    from pipeline import clients

    calls: list[str] = []
    clients.s3().meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    version = s3.put_object(Bucket=storage.upload_bucket, Key=key, Body=body)["VersionId"]

    # When / Then: each of Lambda's attempts costs one HEAD, never a read of the object
    for _ in range(3):
        with pytest.raises(error):
            invoke("UploadFunction", _event_for(storage.upload_bucket, key, version))
    assert calls == ["HeadObject"] * 3


def test_given_unsupported_extension_when_handled_then_unsupported_format_error(
    invoke: Invoke, s3: Any, storage: StackStorage
) -> None:
    key = "incoming/orders.xlsx"
    version = s3.put_object(Bucket=storage.upload_bucket, Key=key, Body=b"PK\x03\x04")["VersionId"]

    with pytest.raises(UnsupportedFormatError, match="neither CSV nor JSON Lines"):
        invoke("UploadFunction", _event_for(storage.upload_bucket, key, version))


@pytest.mark.parametrize(
    ("key", "content_type", "expected"),
    [
        ("a/orders.csv", None, "csv"),
        ("a/ORDERS.CSV", "application/octet-stream", "csv"),
        ("a/orders.jsonl", None, "jsonl"),
        ("a/orders.ndjson", None, "jsonl"),
        ("a/orders", "text/csv; charset=utf-8", "csv"),
        ("a/orders.txt", "application/x-ndjson", "jsonl"),
        ("a/orders.csv", "application/x-ndjson", "csv"),  # the extension decides
    ],
)
def test_given_key_and_content_type_when_detected_then_format(
    key: str, content_type: str | None, expected: str
) -> None:
    assert detect_format(key, content_type) == expected


def test_given_object_gone_when_handled_then_upload_not_found_error(
    invoke: Invoke, s3: Any, storage: StackStorage
) -> None:
    # Given: a notification for a key that was never written
    event = _event_for(
        storage.upload_bucket, "incoming/never-written.csv", "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    )

    with pytest.raises(UploadNotFoundError, match="does not exist"):
        invoke("UploadFunction", event)


def test_given_version_deleted_when_handled_then_upload_not_found_error(
    invoke: Invoke, s3: Any, storage: StackStorage
) -> None:
    version = s3.put_object(Bucket=storage.upload_bucket, Key=KEY, Body=CSV)["VersionId"]
    s3.delete_object(Bucket=storage.upload_bucket, Key=KEY, VersionId=version)

    with pytest.raises(UploadNotFoundError, match=version):
        invoke("UploadFunction", _event_for(storage.upload_bucket, KEY, version))


def test_given_unversioned_bucket_then_upload_id_follows_the_content(invoke: Invoke, s3: Any) -> None:
    # Given: a bucket without versioning, its notifications without a version id
    bucket = "unversioned-uploads"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=KEY, Body=CSV)
    first = invoke("UploadFunction", _event_for(bucket, KEY, None))["uploads"][0]

    # When: the same key is overwritten, once with other content, once with the same
    s3.put_object(Bucket=bucket, Key=KEY, Body=CSV + b"A9,C9,S9,1,1.00,EUR\n")
    changed = invoke("UploadFunction", _event_for(bucket, KEY, None))["uploads"][0]
    s3.put_object(Bucket=bucket, Key=KEY, Body=CSV)
    same = invoke("UploadFunction", _event_for(bucket, KEY, None))["uploads"][0]

    # Then
    assert first["version_id"] is None
    assert changed["upload_id"] != first["upload_id"]
    assert same["upload_id"] == first["upload_id"]


def test_given_two_records_when_handled_then_two_uploads(invoke: Invoke, s3: Any) -> None:
    event = put_and_pin(
        s3,
        load_event("upload/s3-put-two-records.json"),
        {KEY: CSV, "incoming/2026-11-02/orders.jsonl": sample_bytes("orders-2026-11-02.jsonl")},
    )

    result = invoke("UploadFunction", event)

    assert [(u["key"], u["format"]) for u in result["uploads"]] == [
        (KEY, "csv"),
        ("incoming/2026-11-02/orders.jsonl", "jsonl"),
    ]


def test_given_removal_or_test_event_when_handled_then_nothing_is_accepted(
    invoke: Invoke, storage: StackStorage
) -> None:
    removal = _event_for(storage.upload_bucket, KEY, None)
    removal["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": storage.upload_bucket}

    assert invoke("UploadFunction", removal) == {"uploads": []}
    assert invoke("UploadFunction", test_event) == {"uploads": []}


def test_given_accepted_upload_then_logs_carry_correlation_id_and_metric_is_emitted(
    invoke: Invoke,
    s3: Any,
    log_lines: Callable[[], list[dict]],
    capsys: pytest.CaptureFixture[str],
    template: Template,
) -> None:
    # Given
    event = put_and_pin(s3, load_event("upload/s3-put.json"), {KEY: CSV})

    # When
    upload = invoke("UploadFunction", event)["uploads"][0]

    # Then
    accepted_log = next(line for line in log_lines() if line["message"] == "upload accepted")
    assert accepted_log["correlation_id"] == upload["correlation_id"]
    assert accepted_log["upload_id"] == upload["upload_id"]
    emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    namespace = template.environment("UploadFunction")["POWERTOOLS_METRICS_NAMESPACE"]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace
    assert emf["UploadsAccepted"] == [1.0]
