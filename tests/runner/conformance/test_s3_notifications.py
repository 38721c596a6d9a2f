"""docs/async-semantics.md R9: S3 event notifications, the full event, at least once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest

from asyncrun.service.clock import VirtualClock
from asyncrun.service.faults import Fault
from asyncrun.service.metrics import INVOCATIONS
from asyncrun.service.s3events import S3Bridge

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


# ---------------------------------------------------------------------- every event type

_MOTO_HERE = (
    "moto in this process completes its events (versions, delete markers); "
    "a moto container is another process"
)


def _records(h):
    return [e["Records"][0] for e in _events(h)]


def _presigned_post(s3, bucket: str, key: str, body: bytes) -> None:
    import requests

    form = s3.generate_presigned_post(bucket, key)
    response = requests.post(form["url"], data=form["fields"], files={"file": (key, body)}, timeout=10)
    assert response.status_code == 204


@pytest.mark.in_process_only(_MOTO_HERE)
def test_every_event_type_on_a_versioned_bucket_with_s3s_event_names(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Versioned"].name
    put = s3.put_object(Bucket=bucket, Key="put.csv", Body=b"p")
    _presigned_post(s3, bucket, "posted.csv", b"post")
    copy = s3.copy_object(Bucket=bucket, Key="copied.csv", CopySource={"Bucket": bucket, "Key": "put.csv"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi.csv")
    part = s3.upload_part(
        Bucket=bucket, Key="multi.csv", UploadId=upload["UploadId"], PartNumber=1, Body=b"m"
    )
    multi = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multi.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    marker = s3.delete_object(Bucket=bucket, Key="put.csv")
    s3.delete_object(Bucket=bucket, Key="copied.csv", VersionId=copy["VersionId"])
    h.run()
    records = _records(h)
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in records] == [
        ("ObjectCreated:Put", "put.csv"),
        ("ObjectCreated:Post", "posted.csv"),
        ("ObjectCreated:Copy", "copied.csv"),
        ("ObjectCreated:CompleteMultipartUpload", "multi.csv"),
        ("ObjectRemoved:DeleteMarkerCreated", "put.csv"),
        ("ObjectRemoved:Delete", "copied.csv"),
    ]
    versions = [r["s3"]["object"]["versionId"] for r in records]
    assert versions[0] == put["VersionId"]
    assert versions[2] == copy["VersionId"]
    assert versions[3] == multi["VersionId"]
    assert versions[4] == marker["VersionId"]
    assert marker["DeleteMarker"]
    assert versions[5] == copy["VersionId"]
    configuration_ids = {n.events[0]: n.id for n in h.stack.buckets["Versioned"].notifications}
    assert [r["s3"]["configurationId"] for r in records] == [configuration_ids["s3:ObjectCreated:*"]] * 4 + [
        configuration_ids["s3:ObjectRemoved:*"]
    ] * 2


@pytest.mark.in_process_only(_MOTO_HERE)
def test_a_removal_names_the_key_and_version_but_no_size_or_etag(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Versioned"].name
    s3.put_object(Bucket=bucket, Key="gone soon.csv", Body=b"abc")
    marker = s3.delete_object(Bucket=bucket, Key="gone soon.csv")
    h.run()
    created, removed = _records(h)
    assert list(created["s3"]["object"]) == ["key", "size", "eTag", "versionId", "sequencer"]
    assert list(removed["s3"]["object"]) == ["key", "versionId", "sequencer"]
    assert removed["s3"]["object"]["key"] == "gone+soon.csv"
    assert removed["s3"]["object"]["versionId"] == marker["VersionId"]
    assert int(removed["s3"]["object"]["sequencer"], 16) > int(created["s3"]["object"]["sequencer"], 16)


def test_a_delete_on_an_unversioned_bucket_is_object_removed_delete_without_a_version(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Unversioned"].name
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.copy_object(Bucket=bucket, Key="k2", CopySource={"Bucket": bucket, "Key": "k"})
    s3.delete_object(Bucket=bucket, Key="k")
    h.run()
    records = _records(h)
    assert [r["eventName"] for r in records] == [
        "ObjectCreated:Put",
        "ObjectCreated:Copy",
        "ObjectRemoved:Delete",
    ]
    assert list(records[2]["s3"]["object"]) == ["key", "sequencer"]


@pytest.mark.in_process_only(_MOTO_HERE)
def test_exact_event_filters_and_key_rules_pick_their_events_only(harness):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Selective"].name
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"x")  # Put: not configured
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    s3.copy_object(Bucket=bucket, Key="copies/a.csv", CopySource={"Bucket": bucket, "Key": "a.csv"})
    s3.copy_object(Bucket=bucket, Key="elsewhere/a.csv", CopySource={"Bucket": bucket, "Key": "a.csv"})
    s3.delete_object(Bucket=bucket, Key="a.txt")  # a marker, but not .csv
    s3.delete_object(Bucket=bucket, Key="a.csv")
    h.run()
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in _records(h)] == [
        ("ObjectCreated:Copy", "copies/a.csv"),
        ("ObjectRemoved:DeleteMarkerCreated", "a.csv"),
    ]


# ---------------------------------------------------------------------- what a notification costs


class _S3Calls:
    """Every S3 call the runner's own client makes, by operation and parameters."""

    def __init__(self, client) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._client = client
        client.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, model, params, **_):
        self.calls.append((model.name, params))

    def close(self) -> None:
        self._client.meta.events.unregister("before-parameter-build.s3", self._record)


@pytest.fixture
def s3_calls(endpoint):
    calls = _S3Calls(endpoint.client("s3"))
    yield calls
    calls.close()


@pytest.mark.in_process_only(_MOTO_HERE)
def test_a_notification_costs_no_s3_call_however_many_objects_the_run_wrote(harness, s3_calls):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    bucket = h.stack.buckets["Uploads"].name
    written = [
        s3.put_object(Bucket=bucket, Key=f"incoming/{n}.csv", Body=b"same")["VersionId"] for n in range(40)
    ]
    s3.put_object(Bucket=bucket, Key="incoming/0.csv", Body=b"same")
    s3_calls.calls.clear()
    h.run()
    records = _records(h)
    assert [r["s3"]["object"]["versionId"] for r in records][:40] == written
    assert s3_calls.calls == []


def test_an_endpoint_that_leaves_the_version_out_costs_one_head_object_on_the_key(harness, s3_calls):
    h = harness("s3")
    s3 = h.endpoint.client("s3")
    uploads = h.stack.buckets["Uploads"]
    for n in range(20):
        s3.put_object(Bucket=uploads.name, Key=f"incoming/{n}.csv", Body=b"x")
    first = s3.put_object(Bucket=uploads.name, Key="incoming/twice.csv", Body=b"same")
    second = s3.put_object(Bucket=uploads.name, Key="incoming/twice.csv", Body=b"same")
    single = s3.put_object(Bucket=uploads.name, Key="incoming/once.csv", Body=b"one")
    h.engine.s3.drain()  # what the endpoint notified, read and set aside
    bridge = S3Bridge(h.stack, h.endpoint)  # one that has given no version to an event yet
    bridge.install()

    def reduced(key: str, etag: str) -> dict:
        """A notification as moto in another process writes it: no versionId."""
        return {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "configurationId": uploads.notifications[0].id,
                        "bucket": {"name": uploads.name},
                        "object": {"key": key, "size": 4, "eTag": etag},
                    },
                }
            ]
        }

    s3_calls.calls.clear()
    bridge._pending_writes = {(uploads.name, "incoming/twice.csv"): 2}
    once = bridge._invocations(reduced("incoming/once.csv", single["ETag"].strip('"')))
    twice = bridge._invocations(reduced("incoming/twice.csv", first["ETag"].strip('"')))
    twice += bridge._invocations(reduced("incoming/twice.csv", first["ETag"].strip('"')))
    assert once[0].event["Records"][0]["s3"]["object"]["versionId"] == single["VersionId"]
    assert [i.event["Records"][0]["s3"]["object"]["versionId"] for i in twice] == [
        first["VersionId"],
        second["VersionId"],
    ]
    # The single write: one HeadObject on its key. The key written twice: listed by its
    # own prefix while a newer write of it was still to come, then HeadObject.
    assert [(name, params.get("Key", params.get("Prefix"))) for name, params in s3_calls.calls] == [
        ("HeadObject", "incoming/once.csv"),
        ("HeadObject", "incoming/twice.csv"),
        ("ListObjectVersions", "incoming/twice.csv"),
        ("HeadObject", "incoming/twice.csv"),
    ]


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
