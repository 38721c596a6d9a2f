"""ASYNC_SEMANTICS.md §9: S3 event notifications, the full event, at least once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from asyncrun.clock import VirtualClock
from asyncrun.faults import Fault
from asyncrun.metrics import INVOCATIONS

KEY = "incoming/2026 11/orders batch+1.csv"


def _events(h):
    """The S3 events Notified received: each OnSuccess record's requestPayload."""
    return [r["requestPayload"] for r in h.bodies("SuccessQueue")]


def test_the_event_has_every_field_of_an_s3_notification(harness):
    h = harness("s3")
    uploads = h.stack.buckets["Uploads"]
    put = h.endpoint.client("s3").put_object(Bucket=uploads.name, Key=KEY, Body=b"a,b\n1,2\n")
    h.run()
    [event] = _events(h)
    assert list(event) == ["Records"]
    [record] = event["Records"]
    assert list(record) == [
        "eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
        "requestParameters", "responseElements", "s3",
    ]  # fmt: skip
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == h.stack.region
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"])
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["userIdentity"]["principalId"]
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    s3 = record["s3"]
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["configurationId"] == uploads.notifications[0].id
    assert s3["bucket"] == {
        "name": uploads.name,
        "ownerIdentity": s3["bucket"]["ownerIdentity"],
        "arn": uploads.arn,
    }
    assert s3["bucket"]["ownerIdentity"]["principalId"]
    obj = s3["object"]
    assert list(obj) == ["key", "size", "eTag", "versionId", "sequencer"]
    assert obj["key"] == "incoming/2026+11/orders+batch%2B1.csv"  # spaces as +, / kept
    assert unquote_plus(obj["key"]) == KEY
    assert obj["size"] == 8
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["versionId"] == put["VersionId"]
    assert re.fullmatch(r"[0-9A-F]+", obj["sequencer"])


def test_key_filters_of_the_notification_are_honoured(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Uploads"].name
    for key in ("incoming/a.txt", "other/b.csv", "incoming/c.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    h.run()
    assert [e["Records"][0]["s3"]["object"]["key"] for e in _events(h)] == ["incoming/c.csv"]


def test_an_unversioned_bucket_has_no_version_id_and_sequencers_increase(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Scratch"].name
    s3.put_object(Bucket=bucket, Key="same", Body=b"1")
    s3.put_object(Bucket=bucket, Key="same", Body=b"2")
    h.run()
    objects = [e["Records"][0]["s3"]["object"] for e in _events(h)]
    assert all("versionId" not in o for o in objects)
    first, second = (int(o["sequencer"], 16) for o in objects)
    assert first < second


def test_each_version_of_the_same_content_gets_its_own_version_id(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Uploads"].name
    versions = [
        s3.put_object(Bucket=bucket, Key="incoming/x.csv", Body=b"same")["VersionId"] for _ in range(2)
    ]
    h.run()
    assert [e["Records"][0]["s3"]["object"]["versionId"] for e in _events(h)] == versions


def test_a_multipart_upload_is_complete_multipart_upload(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Uploads"].name
    upload = s3.create_multipart_upload(Bucket=bucket, Key="incoming/big.csv")
    part = s3.upload_part(
        Bucket=bucket, Key="incoming/big.csv", UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="incoming/big.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    h.run()
    [event] = _events(h)
    assert event["Records"][0]["eventName"] == "ObjectCreated:CompleteMultipartUpload"


def test_the_test_event_s3_sends_on_configuration_is_ignored(harness):
    h = harness("s3")
    h.run()
    assert h.engine.pending == 0
    assert h.metric("Notified", INVOCATIONS) == 0


def test_a_duplicate_fault_delivers_the_same_event_twice(harness):
    h = harness("s3", faults=(Fault("Notified", "duplicate", times=1),))
    h.endpoint.client("s3").put_object(
        Bucket=h.stack.buckets["Uploads"].name, Key="incoming/d.csv", Body=b"x"
    )
    h.run()
    first, second = _events(h)
    assert first == second
    assert h.metric("Notified", INVOCATIONS) == 2


def test_one_invocation_per_notification_with_its_own_request_id(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    for n in range(3):
        s3.put_object(Bucket=h.stack.buckets["Scratch"].name, Key=f"k{n}", Body=b"x")
    h.run()
    events = _events(h)
    assert [len(e["Records"]) for e in events] == [1, 1, 1]
    notified = [e for e in h.engine.trace if e.kind == "s3_notification"]
    assert [e.key for e in notified] == ["k0", "k1", "k2"]
    assert len({e.request_id for e in notified}) == 3


def test_a_notification_to_an_alias_runs_the_alias(harness):
    h = harness("s3")
    aliased = h.function("AliasNotified")
    assert h.stack.buckets["AliasBucket"].notifications[0].function_arn == f"{aliased.arn}:live"
    h.endpoint.client("s3").put_object(Bucket=h.stack.buckets["AliasBucket"].name, Key="a", Body=b"x")
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestContext"]["functionArn"] == f"{aliased.arn}:live"
    assert record["responseContext"]["executedVersion"] == aliased.aliases["live"]


def test_event_time_is_the_engines_clock(harness):
    # Given a virtual clock far from the wall clock
    start = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC).timestamp()
    h = harness("s3", clock=VirtualClock(start))
    h.endpoint.client("s3").put_object(Bucket=h.stack.buckets["Uploads"].name, Key=KEY, Body=b"a\n")
    h.run()
    # Then the notification is dated by it, as the invocation record is
    [record] = h.bodies("SuccessQueue")
    assert record["requestPayload"]["Records"][0]["eventTime"] == "2030-01-02T03:04:05.678Z"
    assert record["timestamp"] >= "2030-01-02T03:04:05.678Z"
