"""Unit tests: offline (no sockets), moto in-process, the layer's package importable as
`pipeline` the way /opt/python makes it importable in Lambda."""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from pytest_socket import disable_socket

from tests.support.events import load_event
from tests.support.records import success_record
from tests.support.storage import Invoke, StackStorage, Upload
from tests.support.template import Template, project_template

_template = project_template()

# Logger and Metrics read these once, when `pipeline.observability` is first imported
# (possibly at collection); the values are the template's.
for _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
    os.environ.setdefault(_name, _template.environment("UploadFunction")[_name])
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

# Imported before sockets are disabled: on import, urllib3 probes for IPv6 with a socket
# and the X-Ray SDK (under the Tracer) opens its UDP emitter's socket.
from pipeline import clients, observability  # noqa: E402, F401

_HERE = Path(__file__).parent


def pytest_runtest_setup(item: pytest.Item) -> None:
    disable_socket(allow_unix_socket=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A failed invocation emits no metric, and Powertools warns about that; expected here.
    quiet = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(quiet)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """The JSON log lines the functions write while the test runs (the Logger keeps the
    stream it was built with, so pytest's capture does not see them)."""
    from pipeline.observability import logger

    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    handler.setStream(previous)


@pytest.fixture(autouse=True)
def _fresh_clients(aws_env: None) -> Iterator[None]:
    """Every test starts with fake credentials and builds its own AWS clients."""
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def upload_record(storage: StackStorage, invoke: Invoke, template: Template) -> Upload:
    """`upload_record(key, body)`: put the object, run the upload stage on its
    notification, and return upload's Success record (what process receives)."""
    import boto3

    def _upload(key: str, body: bytes, *, request_id: str | None = None) -> dict[str, Any]:
        version = boto3.client("s3").put_object(Bucket=storage.upload_bucket, Key=key, Body=body)["VersionId"]
        event = copy.deepcopy(load_event("upload/s3-put.json"))
        s3 = event["Records"][0]["s3"]
        s3["object"].update(key=quote_plus(key, safe="/"), size=len(body), versionId=version)
        s3["bucket"]["name"] = storage.upload_bucket
        result = invoke("UploadFunction", event, request_id=request_id)
        return success_record(template, "UploadFunction", event, result, request_id=request_id)

    return _upload
