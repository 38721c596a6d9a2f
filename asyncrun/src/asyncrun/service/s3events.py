"""S3 event notifications to Lambda, for any endpoint (docs/async-semantics.md R9).

Neither moto nor a remote fake runs Lambda functions from S3, so the bridge points
each bucket's Lambda notifications at an internal SQS queue instead, keeping the
notification's id, events and key filters (the endpoint does the matching), and
turns what arrives there into the full S3 event, one asynchronous invocation per
record. moto's reduced record lacks several fields and encodes `/` in the key; the
bridge restores them.

An event's version comes with the notification: from real S3, and from moto in this
process once `moto_s3` completes its events. Only an endpoint elsewhere that leaves it
out costs calls: a `HeadObject` on the key, and a listing of the key's versions when
the key was written again before the bridge read the event. Nothing scans a bucket,
so a notification costs the same however many objects the run has written."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from asyncrun.errors import LambdaServiceError
from asyncrun.service.records import format_timestamp
from asyncrun.service.sources import receive_all
from asyncrun.stack import moto_s3
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import BucketSpec, FunctionSpec, Stack

log = logging.getLogger(__name__)

# **unverified** identities: what real S3 puts there depends on the caller and the
# bucket owner; these are fixed, recognisable stand-ins in the same shapes.
PRINCIPAL_ID = "AWS:AIDAASYNCRUNLOCAL"
OWNER_ID = "A3ASYNCRUNLOCALOWNER"
SOURCE_IP = "127.0.0.1"
# Removal events name the key (and version), never a size or ETag: the object is gone.
# Seen in S3's removal events; the documentation's structure does not say (**unverified**).
_REMOVED_PREFIX = "ObjectRemoved:"
# What moto notifies for each S3 call: what the engine can deliver for a configuration.
_ENDPOINT_EVENT_TYPES = (
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
)


@dataclass(frozen=True)
class NotificationTarget:
    bucket: str
    configuration_id: str
    function: FunctionSpec
    qualifier: str | None


@dataclass
class S3Invocation:
    """One asynchronous invocation S3 asks for."""

    target: NotificationTarget
    event: dict[str, Any]  # {"Records": [record]}
    key: str  # decoded


def s3_key_encode(key: str) -> str:
    """How S3 writes a key in an event: form-encoded, spaces as `+`, `/` kept."""
    return quote_plus(key, safe="/")


class S3Bridge:
    def __init__(self, stack: Stack, endpoint: Endpoint, *, now: Callable[[], float] = time.time) -> None:
        self._stack = stack
        self._endpoint = endpoint
        # eventTime: the engine's clock (virtual or not), as the records' timestamps are
        self._now = now
        digest = hashlib.sha256(f"{stack.name}|{stack.region}|{stack.account_id}".encode()).hexdigest()[:12]
        self.queue_name = f"asyncrun-s3-{digest}"
        self.queue_arn = f"arn:aws:sqs:{stack.region}:{stack.account_id}:{self.queue_name}"
        self.queue_url = ""
        self._targets: dict[tuple[str, str], NotificationTarget] = {}
        self._versioned: dict[str, bool] = {}
        self._sequencer = 0
        self._assigned: set[tuple[str, str, str]] = set()
        self._pending_writes: dict[tuple[str, str], int] = {}  # (bucket, key) -> events after this one

    @property
    def active(self) -> bool:
        return bool(self._targets)

    def install(self) -> None:
        buckets = [b for b in self._stack.buckets.values() if b.notifications]
        if not buckets:
            return
        sqs = self._endpoint.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        if any(moto_s3.holds_bucket(bucket.name, self._stack.account_id) for bucket in buckets):
            moto_s3.install()
        for bucket in buckets:
            self._install_bucket(bucket)
        self.drain()  # the test events S3 sends when a configuration is set

    def _install_bucket(self, bucket: BucketSpec) -> None:
        s3 = self._endpoint.client("s3")
        try:
            current = s3.get_bucket_notification_configuration(Bucket=bucket.name)
        except Exception as exc:
            raise LambdaServiceError(
                f"bucket {bucket.name!r} ({bucket.logical_id}) is not at the endpoint: provision the stack "
                f"before starting the engine ({exc})"
            ) from exc
        configuration: dict[str, Any] = {
            "QueueConfigurations": [
                c for c in current.get("QueueConfigurations", []) if c.get("QueueArn") != self.queue_arn
            ],
            "TopicConfigurations": current.get("TopicConfigurations", []),
        }
        if "EventBridgeConfiguration" in current:
            configuration["EventBridgeConfiguration"] = current["EventBridgeConfiguration"]
        complete = moto_s3.holds_bucket(bucket.name, self._stack.account_id)
        for index, notification in enumerate(bucket.notifications):
            _warn_about_events(bucket, notification.events, complete=complete)
            config_id = notification.id or f"asyncrun-{bucket.logical_id}-{index}"
            try:
                function, qualifier = self._stack.find_function(notification.function_arn)
            except KeyError as exc:
                raise LambdaServiceError(
                    f"bucket {bucket.name!r} notifies {notification.function_arn}, which is not a function "
                    f"of stack {self._stack.name!r}"
                ) from exc
            self._targets[(bucket.name, config_id)] = NotificationTarget(
                bucket.name, config_id, function, qualifier
            )
            entry: dict[str, Any] = {
                "Id": config_id,
                "QueueArn": self.queue_arn,
                "Events": list(notification.events),
            }
            rules = [
                {"Name": name, "Value": value}
                for name, value in (("prefix", notification.prefix), ("suffix", notification.suffix))
                if value
            ]
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": rules}}
            configuration["QueueConfigurations"].append(entry)
        configuration = {k: v for k, v in configuration.items() if v or k == "EventBridgeConfiguration"}
        s3.put_bucket_notification_configuration(Bucket=bucket.name, NotificationConfiguration=configuration)
        self._versioned[bucket.name] = bucket.versioned

    def drain(self) -> list[S3Invocation]:
        """Everything S3 has notified since the last drain, in arrival order."""
        if not self.queue_url:
            return []
        bodies = [json.loads(body) for body in receive_all(self._endpoint, self.queue_url)]
        # Writes to one key read in one drain: the newest version is the last one's.
        self._pending_writes = {}
        for body in bodies:
            for bucket, key in _written_keys(body):
                self._pending_writes[(bucket, key)] = self._pending_writes.get((bucket, key), 0) + 1
        invocations: list[S3Invocation] = []
        for body in bodies:
            invocations.extend(self._invocations(body))
        return invocations

    def _invocations(self, body: dict[str, Any]) -> list[S3Invocation]:
        if body.get("Event") == "s3:TestEvent":
            return []
        out: list[S3Invocation] = []
        for record in body.get("Records", []):
            s3 = record.get("s3", {})
            bucket = s3.get("bucket", {}).get("name", "")
            target = self._targets.get((bucket, s3.get("configurationId", "")))
            if target is None:
                continue  # a notification the bridge did not set up
            obj = s3.get("object", {})
            if _moto_multipart_put(record):
                # moto completes a multipart upload through its PUT path and notifies twice:
                # a multipart ETag ("<md5>-<parts>") never comes from a PUT; the
                # CompleteMultipartUpload event that follows is the real one.
                continue
            key = unquote_plus(obj.get("key", ""))
            if (bucket, key) in self._pending_writes:
                self._pending_writes[(bucket, key)] -= 1
            out.append(S3Invocation(target, {"Records": [self._full_record(record, key)]}, key))
        return out

    def _full_record(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3.get("object", {})
        etag = str(obj.get("eTag", "")).strip('"')
        event_name = record.get("eventName", "ObjectCreated:Put")
        full_object: dict[str, Any] = {"key": s3_key_encode(key)}
        if not event_name.startswith(_REMOVED_PREFIX):
            full_object.update(size=obj.get("size", 0), eTag=etag)
        version_id = obj.get("versionId")
        if version_id is None and not event_name.startswith(_REMOVED_PREFIX):
            version_id = self._version_id(bucket, key, etag)
        if version_id and version_id != "null":
            full_object["versionId"] = version_id
        full_object["sequencer"] = self._next_sequencer()
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": record.get("awsRegion", self._stack.region),
            "eventTime": format_timestamp(self._now()),
            "eventName": event_name,
            "userIdentity": {"principalId": PRINCIPAL_ID},
            "requestParameters": {"sourceIPAddress": SOURCE_IP},
            "responseElements": {
                "x-amz-request-id": os.urandom(8).hex().upper(),
                "x-amz-id-2": base64.b64encode(os.urandom(57)).decode(),
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": s3.get("configurationId", ""),
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": {"principalId": OWNER_ID},
                    "arn": s3["bucket"].get("arn", f"arn:aws:s3:::{bucket}"),
                },
                "object": full_object,
            },
        }

    def _version_id(self, bucket: str, key: str, etag: str) -> str | None:
        """The version an event from an endpoint that leaves it out is about: the newest
        version (HeadObject), unless the key was written again before this drain and
        that version went to an earlier event; then the oldest version with the event's
        ETag not yet given to one, from a listing of this key's versions only."""
        if not self._versioned.get(bucket):
            return None
        s3 = self._endpoint.client("s3")
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except Exception:
            head = {}
        newest = head.get("VersionId")
        if (
            newest not in (None, "null")
            and head.get("ETag", "").strip('"') == etag
            and (bucket, key, newest) not in self._assigned
            and not self._newer_events_pending(bucket, key)
        ):
            self._assigned.add((bucket, key, str(newest)))
            return str(newest)
        try:
            versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        except Exception:
            return None
        # Listed newest first: walk them oldest first.
        for version in reversed(versions):
            version_id = version.get("VersionId")
            if (
                version["Key"] != key
                or version.get("ETag", "").strip('"') != etag
                or version_id in (None, "null")
            ):
                continue
            if (bucket, key, version_id) not in self._assigned:
                self._assigned.add((bucket, key, version_id))
                return str(version_id)
        return None

    def _newer_events_pending(self, bucket: str, key: str) -> bool:
        return self._pending_writes.get((bucket, key), 0) > 0

    def _next_sequencer(self) -> str:
        # Monotonic hex, as S3's sequencer orders events for one key.
        self._sequencer = max(self._sequencer + 1, time.time_ns())
        return f"{self._sequencer:018X}"


def _moto_multipart_put(record: dict[str, Any]) -> bool:
    etag = str(record.get("s3", {}).get("object", {}).get("eTag", ""))
    return record.get("eventName") == "ObjectCreated:Put" and "-" in etag


def _written_keys(body: dict[str, Any]) -> list[tuple[str, str]]:
    keys = []
    for record in body.get("Records", []):
        s3 = record.get("s3", {})
        name = str(record.get("eventName", ""))
        if not name.startswith(_REMOVED_PREFIX) and not _moto_multipart_put(record):
            keys.append(
                (s3.get("bucket", {}).get("name", ""), unquote_plus(s3.get("object", {}).get("key", "")))
            )
    return keys


def _warn_about_events(bucket: BucketSpec, events: tuple[str, ...], *, complete: bool) -> None:
    """Says which configured event types this run cannot produce."""
    for event in events:
        produced = [name for name in _ENDPOINT_EVENT_TYPES if fnmatch.fnmatchcase(name, event)]
        if not produced:
            log.warning(
                "bucket %s (%s): S3 event %s is not notified locally; only %s are",
                bucket.name,
                bucket.logical_id,
                event,
                ", ".join(_ENDPOINT_EVENT_TYPES),
            )
        elif (
            not complete
            and any(name.startswith("s3:ObjectRemoved:") for name in produced)
            and bucket.versioned
        ):
            log.warning(
                "bucket %s (%s), %s: the endpoint is not this process's moto, so "
                "ObjectRemoved:DeleteMarkerCreated and deletes of one version are notified only "
                "if the endpoint sends them (moto's own server does not)",
                bucket.name,
                bucket.logical_id,
                event,
            )
