"""The S3 event notification model."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from pipeline.events import S3EventNotification

from tests.support.events import load_event


@pytest.fixture
def put_event() -> dict:
    return load_event("upload/s3-put.json")


def test_given_s3_put_event_when_parsed_then_bucket_key_and_version_are_read(put_event: dict) -> None:
    # When
    notification = S3EventNotification.model_validate(put_event)

    # Then
    (record,) = notification.records
    raw = put_event["Records"][0]
    assert record.bucket == raw["s3"]["bucket"]["name"]
    assert record.key == "incoming/2026-11-01/orders batch.csv"  # "+" in the event is a space
    assert record.version_id == raw["s3"]["object"]["versionId"]
    assert record.event_time == datetime(2026, 11, 1, 9, 30, 12, 345000, tzinfo=UTC)
    assert record.is_object_created


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("incoming/orders+batch.csv", "incoming/orders batch.csv"),
        ("incoming/orders%2Bbatch.csv", "incoming/orders+batch.csv"),  # a real "+" is encoded
        ("incoming/caf%C3%A9+orders.csv", "incoming/café orders.csv"),
        ("incoming/a%2Fb.csv", "incoming/a/b.csv"),
    ],
)
def test_given_encoded_key_when_read_then_it_is_the_stored_key(
    put_event: dict, encoded: str, decoded: str
) -> None:
    # Given
    event = copy.deepcopy(put_event)
    event["Records"][0]["s3"]["object"]["key"] = encoded

    # When
    record = S3EventNotification.model_validate(event).records[0]

    # Then
    assert record.key == decoded


@pytest.mark.parametrize("version", [None, "", "null"])
def test_given_unversioned_object_when_read_then_version_is_none(
    put_event: dict, version: str | None
) -> None:
    # Given: S3 omits the version, or names the "null" version of an unversioned bucket
    event = copy.deepcopy(put_event)
    if version is None:
        del event["Records"][0]["s3"]["object"]["versionId"]
    else:
        event["Records"][0]["s3"]["object"]["versionId"] = version

    # When / Then
    assert S3EventNotification.model_validate(event).records[0].version_id is None


def test_given_reduced_event_without_identity_fields_when_parsed_then_accepted(put_event: dict) -> None:
    # Given: the fields some emulators leave out
    event = copy.deepcopy(put_event)
    record = event["Records"][0]
    for optional in ("userIdentity", "requestParameters", "responseElements"):
        del record[optional]
    del record["s3"]["bucket"]["ownerIdentity"]
    del record["s3"]["object"]["sequencer"]

    # When
    parsed = S3EventNotification.model_validate(event).records[0]

    # Then
    assert parsed.s3.object.sequencer is None
    assert parsed.key == "incoming/2026-11-01/orders batch.csv"


def test_given_s3_test_event_when_parsed_then_it_has_no_records() -> None:
    # Given: what S3 sends once when a notification configuration is saved
    event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-01T09:00:00.000Z",
        "Bucket": "order-uploads-40fccdea-a107-942b-3593-d41874188cbd",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }

    # When
    notification = S3EventNotification.model_validate(event)

    # Then
    assert notification.records == []
    assert notification.test_event == "s3:TestEvent"


def test_given_two_records_when_parsed_then_both_are_kept() -> None:
    notification = S3EventNotification.model_validate(load_event("upload/s3-put-two-records.json"))

    assert [record.key for record in notification.records] == [
        "incoming/2026-11-01/orders batch.csv",
        "incoming/2026-11-02/orders.jsonl",
    ]


def test_given_removal_event_when_parsed_then_it_is_not_an_object_creation(put_event: dict) -> None:
    event = copy.deepcopy(put_event)
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    assert not S3EventNotification.model_validate(event).records[0].is_object_created
