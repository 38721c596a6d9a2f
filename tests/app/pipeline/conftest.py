"""The pipeline suite's harness: the project's own `template.yaml`, driven by asyncrun's
pytest plugin (`asyncrun_stack`: the template provisioned into the test's own embedded
moto, no socket opened, on a virtual clock), seen as the pipeline's parts.

Nothing is named here by hand. The resources that play a part in the pipeline are found
from the loaded stack's wiring: the upload function is the one the upload bucket
notifies, process and audit follow through `OnSuccess`, the alert topic is where every
`OnFailure` points, the debug queue is the queue subscribed to it with raw delivery,
and the table and buckets are the ones the functions' environment names."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from asyncrun.pytest_plugin import AsyncrunStack, StackFactory
from asyncrun.service.destinations import Delivery
from asyncrun.service.engine import Engine
from asyncrun.service.faults import Fault
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import (
    BucketSpec,
    FunctionSpec,
    InvokeConfig,
    QueueSpec,
    Stack,
    TableSpec,
    TopicSpec,
)
from tests.support.contract import watch
from tests.support.sockets import loopback_only
from tests.support.template import TEMPLATE_PATH

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
    """The stack driven by the plugin, and ways to read what the run left behind from
    the pipeline's own resources."""

    driven: AsyncrunStack
    parts: Parts

    @property
    def stack(self) -> Stack:
        return self.driven.stack

    @property
    def endpoint(self) -> Endpoint:
        return self.driven.endpoint

    @property
    def engine(self) -> Engine:
        return self.driven.engine

    # -------------------------------------------------------------- acting
    def upload(self, sample: str | bytes, key: str) -> str:
        """Put a sample file (a name under samples/) or raw bytes at `key` in the upload
        bucket; returns the new object version."""
        body = sample if isinstance(sample, bytes) else SAMPLES / sample
        version = self.driven.upload(self.parts.upload_bucket.logical_id, key, body)
        assert version is not None, "the upload bucket should be versioned"
        return version

    def inject(self, fault: Fault) -> None:
        self.engine.faults.add(fault)

    def run(self) -> None:
        self.driven.run()

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
        """The body of every message in the debug queue, as sent, taken off the queue."""
        return self.driven.messages(self.parts.debug_queue.logical_id, raw=True)

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
        return [d for d in self.driven.deliveries if d.target_arn == self.parts.alert_topic.arn]

    def deliveries_from(self, function: FunctionSpec, kind: str) -> list[Delivery]:
        return [d for d in self.driven.deliveries if d.function == function.name and d.kind == kind]

    def events(self, kind: str, function: FunctionSpec) -> list[Any]:
        return [e for e in self.driven.trace if e.kind == kind and e.function == function.name]

    def request_ids(self, function: FunctionSpec) -> list[str]:
        """The request id of each attempt of the function, in order."""
        return [e.request_id for e in self.events("attempt_started", function)]

    def metric(self, function: FunctionSpec, name: str) -> int:
        return self.driven.metric(function.name, name)


StartPipeline = Callable[..., Pipeline]


@pytest.fixture
def start_pipeline(asyncrun_stack: StackFactory) -> StartPipeline:
    """`start_pipeline(faults=..., parameter_overrides=...)`: the stack in the test's
    own moto, with an engine (its functions start cold) on a virtual clock starting at
    START."""

    def start(
        *, faults: Sequence[Fault] = (), parameter_overrides: Mapping[str, str] | None = None
    ) -> Pipeline:
        driven = asyncrun_stack(TEMPLATE_PATH, parameter_overrides, faults=faults, clock_start=START)
        watch(driven.engine)
        return Pipeline(driven, parts_of(driven.stack))

    return start


@pytest.fixture
def pipeline(start_pipeline: StartPipeline) -> Pipeline:
    return start_pipeline()
