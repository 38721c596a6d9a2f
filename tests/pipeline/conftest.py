"""The pipeline suite's harness: the project's own `template.yaml`, loaded with asyncrun's
`load_stack`, provisioned once per test module into an embedded moto (no socket is
opened), and driven by a fresh `Engine` per test over clean storage, on a virtual clock.

Nothing is named here by hand. The resources that play a part in the pipeline are found
from the loaded stack's wiring: the upload function is the one the upload bucket
notifies, process and audit follow through `OnSuccess`, the alert topic is where every
`OnFailure` points, the debug queue is the queue subscribed to it with raw delivery,
and the table and buckets are the ones the functions' environment names."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from asyncrun.clock import VirtualClock
from asyncrun.destinations import Delivery
from asyncrun.endpoint import Endpoint
from asyncrun.engine import Engine
from asyncrun.faults import Fault
from asyncrun.provision import provision
from asyncrun.stack import BucketSpec, FunctionSpec, InvokeConfig, QueueSpec, Stack, TableSpec, TopicSpec
from asyncrun.template import load_stack
from tests.support.sockets import loopback_only
from tests.support.template import TEMPLATE_PATH, project_template

# The X-Ray SDK (under the functions' Tracer) opens its UDP emitter's socket when it is
# first imported: that happens here, before sockets are disabled.
with contextlib.suppress(ImportError):
    import aws_xray_sdk.core  # noqa: F401

HERE = Path(__file__).parent
SAMPLES = TEMPLATE_PATH.parent / "samples"
# Every test's virtual clock starts here, so dated keys are known in advance.
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Embedded moto: the functions reach it on loopback; nothing leaves the machine.
    loopback_only()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A failed invocation emits no application metric, and Powertools warns about that.
    quiet = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(quiet)


# ---------------------------------------------------------------------- the stack's parts


@dataclass(frozen=True)
class Parts:
    """The stack's resources, by the part each plays in the pipeline."""

    upload: FunctionSpec
    process: FunctionSpec
    audit: FunctionSpec
    alias: str  # the alias every stage is invoked through
    upload_bucket: BucketSpec
    audit_bucket: BucketSpec
    process_table: TableSpec
    alert_topic: TopicSpec
    debug_queue: QueueSpec

    @property
    def functions(self) -> tuple[FunctionSpec, FunctionSpec, FunctionSpec]:
        return self.upload, self.process, self.audit

    def alias_arn(self, function: FunctionSpec) -> str:
        return f"{function.arn}:{self.alias}"


def _config_of(stack: Stack, function: FunctionSpec) -> InvokeConfig:
    (config,) = [c for c in stack.invoke_configs if c.function_name == function.name]
    return config


def _by_name[T: (BucketSpec, TableSpec)](specs: Mapping[str, T], name: str, what: str) -> T:
    found = [spec for spec in specs.values() if spec.name == name]
    assert len(found) == 1, f"no single {what} named {name!r} in the stack"
    return found[0]


def parts_of(stack: Stack) -> Parts:
    notified = [(bucket, n) for bucket in stack.buckets.values() for n in bucket.notifications]
    assert len(notified) == 1, f"expected one bucket notifying one function, got {notified}"
    upload_bucket, notification = notified[0]
    upload, alias = stack.find_function(notification.function_arn)
    assert alias is not None, "the upload bucket should notify an alias"
    chain = [upload]
    for _ in range(2):
        target = _config_of(stack, chain[-1]).on_success
        assert target is not None, f"{chain[-1].logical_id} has no OnSuccess destination"
        function, qualifier = stack.find_function(target)
        assert qualifier == alias, f"{chain[-1].logical_id}'s OnSuccess should name the {alias!r} alias"
        chain.append(function)
    _, process, audit = chain
    failure_targets = {_config_of(stack, function).on_failure for function in chain}
    assert len(failure_targets) == 1, f"every OnFailure should name one topic, got {failure_targets}"
    (alert_topic,) = [topic for topic in stack.topics.values() if topic.arn in failure_targets]
    (debug_queue,) = [
        queue
        for queue in stack.queues.values()
        for subscription in stack.subscriptions
        if subscription.topic_arn == alert_topic.arn
        and subscription.protocol == "sqs"
        and subscription.raw_message_delivery
        and subscription.endpoint == queue.arn
    ]
    return Parts(
        upload=upload,
        process=process,
        audit=audit,
        alias=alias,
        upload_bucket=upload_bucket,
        audit_bucket=_by_name(stack.buckets, audit.environment["AUDIT_BUCKET_NAME"], "audit bucket"),
        process_table=_by_name(stack.tables, process.environment["PROCESS_TABLE_NAME"], "process table"),
        alert_topic=alert_topic,
        debug_queue=debug_queue,
    )


# ---------------------------------------------------------------------- one run of the pipeline


@dataclass
class Pipeline:
    """One engine over the provisioned stack, and ways to read what the run left behind
    from the stack's own resources."""

    stack: Stack
    parts: Parts
    endpoint: Endpoint
    engine: Engine

    # -------------------------------------------------------------- acting
    def upload(self, sample: str | bytes, key: str) -> str:
        """Put a sample file (a name under samples/) or raw bytes at `key` in the upload
        bucket; returns the new object version."""
        body = sample if isinstance(sample, bytes) else (SAMPLES / sample).read_bytes()
        response = self.endpoint.client("s3").put_object(
            Bucket=self.parts.upload_bucket.name, Key=key, Body=body
        )
        return str(response["VersionId"])

    def inject(self, fault: Fault) -> None:
        self.engine.faults.add(fault)

    def run(self) -> None:
        self.engine.run_until_idle()

    # -------------------------------------------------------------- reading the stack's resources
    def items(self) -> list[dict[str, Any]]:
        """Every item of the process table, as Python values."""
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        pages = (
            self.endpoint.client("dynamodb")
            .get_paginator("scan")
            .paginate(TableName=self.parts.process_table.name)
        )
        return [
            {name: deserialize(value) for name, value in item.items()}
            for page in pages
            for item in page.get("Items", [])
        ]

    def process_key_attribute(self) -> str:
        (key,) = [k["AttributeName"] for k in self.parts.process_table.key_schema if k["KeyType"] == "HASH"]
        return str(key)

    def audit_versions(self) -> list[tuple[str, str]]:
        """(key, version id) of every object version in the audit bucket."""
        listing = self.endpoint.client("s3").list_object_versions(Bucket=self.parts.audit_bucket.name)
        return [(version["Key"], version["VersionId"]) for version in listing.get("Versions", [])]

    def audit_entry(self, key: str) -> dict[str, Any]:
        body = self.endpoint.client("s3").get_object(Bucket=self.parts.audit_bucket.name, Key=key)["Body"]
        return dict(json.loads(body.read()))

    def debug_messages(self) -> list[str]:
        """The body of every message in the debug queue, taken off the queue."""
        sqs = self.endpoint.client("sqs")
        bodies: list[str] = []
        while batch := sqs.receive_message(
            QueueUrl=self.parts.debug_queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in batch:
                bodies.append(message["Body"])
                sqs.delete_message(
                    QueueUrl=self.parts.debug_queue.url, ReceiptHandle=message["ReceiptHandle"]
                )
        return bodies

    def debug_queue_depth(self) -> int:
        attributes = self.endpoint.client("sqs").get_queue_attributes(
            QueueUrl=self.parts.debug_queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # -------------------------------------------------------------- reading the engine
    def alerts(self) -> list[Delivery]:
        """What the engine published to the alert topic."""
        return [d for d in self.engine.deliveries if d.target_arn == self.parts.alert_topic.arn]

    def deliveries_from(self, function: FunctionSpec, kind: str) -> list[Delivery]:
        return [d for d in self.engine.deliveries if d.function == function.name and d.kind == kind]

    def events(self, kind: str, function: FunctionSpec) -> list[Any]:
        return [e for e in self.engine.trace if e.kind == kind and e.function == function.name]

    def request_ids(self, function: FunctionSpec) -> list[str]:
        """The request id of each attempt of the function, in order."""
        return [e.request_id for e in self.events("attempt_started", function)]

    def metric(self, function: FunctionSpec, name: str) -> int:
        return self.engine.metrics.get(function.name, name)


@cache
def _loaded_stack(overrides: tuple[tuple[str, str], ...]) -> Stack:
    """The template read once per set of parameter overrides (it is only data)."""
    return load_stack(TEMPLATE_PATH, parameter_overrides=dict(overrides))


class _Backend:
    """An embedded endpoint holding the stack's resources, for one test module. Stacks
    with parameter overrides share the default stack's resources (the names do not
    depend on the parameters); only their settings differ."""

    def __init__(self) -> None:
        self.endpoint = Endpoint(region=project_template().region).start()

    def stack(self, overrides: Mapping[str, str]) -> Stack:
        stack = copy.deepcopy(_loaded_stack(tuple(sorted(overrides.items()))))
        # Idempotent and cheap once created: also brings back whatever a test deleted.
        provision(stack, self.endpoint)
        return stack

    def clean(self, stack: Stack) -> None:
        """Empty every bucket, table and queue of the stack (the S3 bridge's queue too)."""
        s3 = self.endpoint.client("s3")
        for bucket in stack.buckets.values():
            listing = s3.list_object_versions(Bucket=bucket.name)
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket.name, Delete={"Objects": doomed, "Quiet": True})
        dynamodb = self.endpoint.client("dynamodb")
        for table in stack.tables.values():
            keys = [k["AttributeName"] for k in table.key_schema]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table.name):
                for item in page.get("Items", []):
                    dynamodb.delete_item(TableName=table.name, Key={k: item[k] for k in keys})
        sqs = self.endpoint.client("sqs")
        for url in sqs.list_queues().get("QueueUrls", []):
            while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)


# Module scope, not package: a folder without __init__.py is no package to pytest, and
# a "package" fixture would then keep moto started for the folders that run after this one.
@pytest.fixture(scope="module")
def _backend() -> Iterator[_Backend]:
    # The embedded endpoint sets the user's AWS configuration aside itself; what it
    # leaves (local credentials, region) is undone here for the suites that follow.
    saved = dict(os.environ)
    backend = _Backend()
    try:
        yield backend
    finally:
        backend.endpoint.stop()
        os.environ.clear()
        os.environ.update(saved)


StartPipeline = Callable[..., Pipeline]


@pytest.fixture
def start_pipeline(_backend: _Backend) -> Iterator[StartPipeline]:
    """`start_pipeline(faults=..., parameter_overrides=...)`: the stack, clean, with a new
    engine (its functions start cold) on a virtual clock starting at START."""

    def start(
        *, faults: Sequence[Fault] = (), parameter_overrides: Mapping[str, str] | None = None
    ) -> Pipeline:
        stack = _backend.stack(parameter_overrides or {})
        _backend.clean(stack)
        engine = Engine(stack, _backend.endpoint, clock=VirtualClock(START.timestamp()), faults=faults)
        engines.append(engine)
        return Pipeline(stack, parts_of(stack), _backend.endpoint, engine)

    engines: list[Engine] = []
    yield start
    for engine in engines:  # each test starts with cold execution environments
        getattr(engine.executor, "close", lambda: None)()


@pytest.fixture
def pipeline(start_pipeline: StartPipeline) -> Pipeline:
    return start_pipeline()
