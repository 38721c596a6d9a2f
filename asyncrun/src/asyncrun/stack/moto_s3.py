"""What moto's S3 leaves out of its event notifications, put back when moto runs in
this process (the embedded endpoint, or a moto server thread of this process).

- The object's `versionId` on a versioned bucket: real S3 sends it; without it the S3
  bridge would have to ask the endpoint which version an event is about.
- `ObjectRemoved:DeleteMarkerCreated`: a delete without a version on a versioned
  bucket creates a delete marker, and moto notifies nothing.
- `ObjectRemoved:Delete` for each version deleted by id: moto notifies only when the
  last version of the key goes.

Installed once per process; it changes what moto notifies to every queue and topic,
the way real S3 would. An endpoint in another process (a moto server, LocalStack)
is not touched: the bridge says so when a configuration needs what it may lack."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

_installed = False
_install_lock = threading.Lock()
_quiet = threading.local()  # set while moto's own removal notification is replaced


@dataclass(frozen=True)
class _RemovedObject:
    """What moto's event builder reads from a key, for an object that is gone: S3's
    removal events carry no size or ETag (the bridge leaves them out)."""

    name: str
    version_id: str
    etag: str = ""
    size: int = 0


def holds_bucket(bucket: str, account_id: str) -> bool:
    """Whether this process's moto holds `bucket`: then its notifications are this
    module's to complete. Never imports moto for an endpoint elsewhere."""
    if "moto.s3.models" not in sys.modules:
        return False
    from moto.s3.models import s3_backends

    try:
        return bucket in s3_backends[account_id]["aws"].buckets
    except KeyError:
        return False


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.s3 import models, notifications

        original_event = notifications._get_s3_event
        original_send = notifications.send_event
        original_delete = models.S3Backend.delete_object

        def event_with_version(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
            body = original_event(event_name, bucket, key, notification_id)
            version_id = getattr(key, "version_id", None)
            if bucket.is_versioned and version_id not in (None, "null"):
                body["Records"][0]["s3"]["object"]["versionId"] = str(version_id)
            return body

        def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            removal = str(getattr(event_name, "value", event_name)).startswith("s3:ObjectRemoved:")
            if removal and getattr(_quiet, "active", False):
                return
            original_send(account_id, event_name, bucket, key)

        def delete_object(
            self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
        ) -> tuple[bool, dict[str, Any]]:
            bucket = self.get_bucket(bucket_name)
            if not bucket.is_versioned:
                return original_delete(self, bucket_name, key_name, version_id, bypass)
            existed = version_id is None or any(
                str(version.version_id) == str(version_id) for version in bucket.keys.getlist(key_name, [])
            )
            _quiet.active = True
            try:
                deleted, meta = original_delete(self, bucket_name, key_name, version_id, bypass)
            finally:
                _quiet.active = False
            if deleted and existed and meta.get("version-id"):
                if version_id is None:
                    event = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
                else:
                    event = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_EVENT
                removed = _RemovedObject(key_name, str(meta["version-id"]))
                original_send(self.account_id, event, bucket, removed)
            return deleted, meta

        notifications._get_s3_event = event_with_version
        notifications.send_event = send_event
        models.S3Backend.delete_object = delete_object  # type: ignore[method-assign]
        _installed = True
