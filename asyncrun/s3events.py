"""S3 event notifications to Lambda, for any endpoint (ASYNC_SEMANTICS.md §9).

Neither moto nor a remote fake runs Lambda functions from S3, so the bridge points
each bucket's Lambda notifications at an internal SQS queue instead, keeping the
notification's id, events and key filters (the endpoint does the matching), and
turns what arrives there into the full S3 event, one asynchronous invocation per
record. moto's reduced record lacks several fields and encodes `/` in the key; the
bridge restores them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from asyncrun.endpoint import Endpoint
from asyncrun.errors import AsyncrunError
from asyncrun.records import format_timestamp
from asyncrun.stack import BucketSpec, FunctionSpec, Stack

# **unverified** identities: what real S3 puts there depends on the caller and the
# bucket owner; these are fixed, recognisable stand-ins in the same shapes.
PRINCIPAL_ID = "AWS:AIDAASYNCRUNLOCAL"
OWNER_ID = "A3ASYNCRUNLOCALOWNER"
SOURCE_IP = "127.0.0.1"


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

    @property
    def active(self) -> bool:
        return bool(self._targets)

    def install(self) -> None:
        buckets = [b for b in self._stack.buckets.values() if b.notifications]
        if not buckets:
            return
        sqs = self._endpoint.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        for bucket in buckets:
            self._install_bucket(bucket)
        self.drain()  # the test events S3 sends when a configuration is set

    def _install_bucket(self, bucket: BucketSpec) -> None:
        s3 = self._endpoint.client("s3")
        try:
            current = s3.get_bucket_notification_configuration(Bucket=bucket.name)
        except Exception as exc:
            raise AsyncrunError(
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
        for index, notification in enumerate(bucket.notifications):
            config_id = notification.id or f"asyncrun-{bucket.logical_id}-{index}"
            try:
                function, qualifier = self._stack.find_function(notification.function_arn)
            except KeyError as exc:
                raise AsyncrunError(
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
        sqs = self._endpoint.client("sqs")
        invocations: list[S3Invocation] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
            ).get("Messages", [])
            if not messages:
                return invocations
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            for message in messages:
                invocations.extend(self._invocations(json.loads(message["Body"])))

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
            if record.get("eventName") == "ObjectCreated:Put" and "-" in str(obj.get("eTag", "")):
                # moto completes a multipart upload through its PUT path and notifies twice:
                # a multipart ETag ("<md5>-<parts>") never comes from a PUT; the
                # CompleteMultipartUpload event that follows is the real one.
                continue
            key = unquote_plus(obj.get("key", ""))
            out.append(S3Invocation(target, {"Records": [self._full_record(record, key)]}, key))
        return out

    def _full_record(self, record: dict[str, Any], key: str) -> dict[str, Any]:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3.get("object", {})
        etag = str(obj.get("eTag", "")).strip('"')
        full_object: dict[str, Any] = {"key": s3_key_encode(key), "size": obj.get("size", 0), "eTag": etag}
        version_id = obj.get("versionId") or self._version_id(bucket, key, etag)
        if version_id:
            full_object["versionId"] = version_id
        full_object["sequencer"] = self._next_sequencer()
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": record.get("awsRegion", self._stack.region),
            "eventTime": format_timestamp(self._now()),
            "eventName": record.get("eventName", "ObjectCreated:Put"),
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
        """moto leaves the version out: find the version the event is about, the oldest
        version with that ETag not yet given to an event (later writes may have
        happened before the drain, with the same content or not)."""
        if not self._versioned.get(bucket):
            return None
        s3 = self._endpoint.client("s3")
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

    def _next_sequencer(self) -> str:
        # Monotonic hex, as S3's sequencer orders events for one key.
        self._sequencer = max(self._sequencer + 1, time.time_ns())
        return f"{self._sequencer:018X}"
