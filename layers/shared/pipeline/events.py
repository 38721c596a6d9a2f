"""The S3 event notification the upload stage receives, as S3 sends it (event version 2.x).

Only what the pipeline needs is read. Our own small model rather than Powertools'
parser package, which imports every event model it has on first use: a cold-start
cost for one event type."""

from datetime import datetime
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _S3Model(BaseModel):
    # Ignore what we do not read: S3 adds fields over time (and moto sends fewer).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", defer_build=True
    )


class S3Bucket(_S3Model):
    name: str
    arn: str


class S3Object(_S3Model):
    key: str  # URL-encoded, spaces as "+"
    size: int | None = None
    e_tag: str | None = Field(None, alias="eTag")
    version_id: str | None = None  # only for versioned buckets
    sequencer: str | None = None


class S3Entity(_S3Model):
    s3_schema_version: str = Field("1.0", alias="s3SchemaVersion")
    configuration_id: str | None = None
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(_S3Model):
    event_version: str
    event_source: str
    aws_region: str
    event_time: datetime
    event_name: str  # "ObjectCreated:Put", ...
    # Not modelled, so never carried on, logged or stored: who made the request
    # (userIdentity.principalId, ownerIdentity) and from where (requestParameters'
    # sourceIPAddress), nor S3's request ids (responseElements).
    s3: S3Entity

    @property
    def bucket(self) -> str:
        return self.s3.bucket.name

    @property
    def key(self) -> str:
        """The object key as stored: S3 encodes it in the event, spaces as "+"."""
        return unquote_plus(self.s3.object.key)

    @property
    def version_id(self) -> str | None:
        # An unversioned bucket's objects have the version "null" when S3 names one at all.
        version = self.s3.object.version_id
        return None if version in (None, "", "null") else version

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


class S3EventNotification(BaseModel):
    """`{"Records": [...]}`. S3's one-off `s3:TestEvent` (sent when a notification
    configuration is saved) has no records and parses to an empty list."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    records: list[S3EventRecord] = Field(default_factory=list, alias="Records")
    test_event: str | None = Field(None, alias="Event")
