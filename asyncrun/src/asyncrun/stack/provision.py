"""Creates a resolved stack's resources at an endpoint (embedded moto, a moto server,
LocalStack), or finds them there from an earlier run. Functions are created only as
placeholders that list and describe like the real ones: their code runs in the
engine's execution environments. What the engine delivers itself (S3 -> Lambda
notifications, SNS -> Lambda subscriptions, EventBridge -> Lambda targets, event-invoke
configs) is not wired here; what nobody delivers locally is named in a warning."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import (
    BucketSpec,
    BusSpec,
    FunctionSpec,
    QueueSpec,
    RuleSpec,
    Stack,
    SubscriptionSpec,
    TableSpec,
    TopicSpec,
)

log = logging.getLogger(__name__)

LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
# Protocols the endpoint can deliver itself; lambda is the engine's, http(s) would
# leave the machine.
_ENDPOINT_PROTOCOLS = {"sqs", "email", "email-json", "sms"}
# Rule targets moto can deliver to without raising out of put_events.
_ENDPOINT_TARGET_SERVICES = {"sqs", "logs", "events"}
# Queue attributes that go to SetQueueAttributes only after every queue exists
# (a redrive policy names another queue).
_LATE_QUEUE_ATTRIBUTES = {"RedrivePolicy", "RedriveAllowPolicy"}
_QUEUE_ATTRIBUTES = {
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
}


def provision(stack: Stack, endpoint: Endpoint) -> None:
    """Creates every resource of `stack` the endpoint should hold; idempotent."""
    _Provisioner(stack, endpoint).run()


def _exists[T](call: Callable[[], T], codes: set[str], on_exists: Callable[[], T] | None = None) -> T | None:
    """`call()`, treating the given error codes as "it is already there"."""
    try:
        return call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in codes:
            raise
        return on_exists() if on_exists is not None else None


@cache
def placeholder_zip() -> bytes:
    """A deployment package that only says where the real code runs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "placeholder.py",
            "# asyncrun runs this function's code itself; this package is a placeholder.\n",
        )
    return buffer.getvalue()


class _Provisioner:
    def __init__(self, stack: Stack, endpoint: Endpoint) -> None:
        self.stack = stack
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        return self.endpoint.client(service)

    def run(self) -> None:
        for bucket in self.stack.buckets.values():
            self.bucket(bucket)
        for queue in self.stack.queues.values():
            self.queue(queue)
        for queue in self.stack.queues.values():
            self.queue_late_attributes(queue)
        for topic in self.stack.topics.values():
            self.topic(topic)
        for subscription in self.stack.subscriptions:
            self.subscription(subscription)
        for table in self.stack.tables.values():
            self.table(table)
        for bus in self.stack.buses.values():
            self.bus(bus)
        for rule in self.stack.rules.values():
            self.rule(rule)
        for function in self.stack.functions.values():
            self.function(function)
        if self.endpoint.embedded:
            log.warning(
                "stack %s: IAM roles and policies, resource policies (bucket, queue, topic, key), KMS key "
                "grants and S3 Object Lock are not enforced locally: a call the deployed stack would "
                "refuse succeeds here",
                self.stack.name,
            )

    # ------------------------------------------------------------------ S3
    def bucket(self, spec: BucketSpec) -> None:
        s3 = self.client("s3")
        arguments: dict[str, Any] = {"Bucket": spec.name}
        if self.endpoint.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.endpoint.region}
        _exists(lambda: s3.create_bucket(**arguments), {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
        if spec.versioned:
            s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
        # S3 encrypts every new object with SSE-S3 unless told otherwise; say so explicitly.
        s3.put_bucket_encryption(
            Bucket=spec.name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        log.debug("bucket %s ready (versioned: %s)", spec.name, spec.versioned)

    # ------------------------------------------------------------------ SQS
    def queue(self, spec: QueueSpec) -> None:
        sqs = self.client("sqs")
        attributes = {key: value for key, value in spec.attributes.items() if key in _QUEUE_ATTRIBUTES}
        if spec.fifo:
            attributes["FifoQueue"] = "true"
        response = _exists(
            lambda: sqs.create_queue(QueueName=spec.name, Attributes=attributes),
            {"QueueAlreadyExists", "QueueNameExists"},
            lambda: sqs.get_queue_url(QueueName=spec.name),
        )
        assert response is not None
        spec.url = response["QueueUrl"]
        log.debug("queue %s ready at %s", spec.name, spec.url)

    def queue_late_attributes(self, spec: QueueSpec) -> None:
        late = {key: value for key, value in spec.attributes.items() if key in _LATE_QUEUE_ATTRIBUTES}
        if late:
            self.client("sqs").set_queue_attributes(QueueUrl=spec.url, Attributes=late)

    # ------------------------------------------------------------------ SNS
    def topic(self, spec: TopicSpec) -> None:
        attributes = {"FifoTopic": "true"} if spec.fifo else {}
        # CreateTopic returns the existing topic when the name is taken.
        self.client("sns").create_topic(Name=spec.name, Attributes=attributes)
        log.debug("topic %s ready", spec.name)

    def subscription(self, spec: SubscriptionSpec) -> None:
        if spec.protocol == "lambda":
            log.debug(
                "subscription %s is delivered by the engine, not created at the endpoint", spec.logical_id
            )
            return
        if spec.protocol not in _ENDPOINT_PROTOCOLS:
            log.warning(
                "SNS subscription %s (protocol %s, %s) is not delivered locally: only sqs, lambda, email "
                "and sms subscriptions are",
                spec.logical_id,
                spec.protocol,
                spec.endpoint,
            )
            return
        sns = self.client("sns")
        attributes: dict[str, str] = {}
        if spec.raw_message_delivery:
            attributes["RawMessageDelivery"] = "true"
        if spec.filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(spec.filter_policy)
        if spec.filter_policy_scope:
            attributes["FilterPolicyScope"] = spec.filter_policy_scope
        for existing in self._subscriptions(spec.topic_arn):
            if existing["Protocol"] == spec.protocol and existing["Endpoint"] == spec.endpoint:
                for name, value in attributes.items():
                    sns.set_subscription_attributes(
                        SubscriptionArn=existing["SubscriptionArn"], AttributeName=name, AttributeValue=value
                    )
                log.debug("subscription %s found", spec.logical_id)
                return
        sns.subscribe(
            TopicArn=spec.topic_arn,
            Protocol=spec.protocol,
            Endpoint=spec.endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        log.debug("subscription %s created: %s -> %s", spec.logical_id, spec.topic_arn, spec.endpoint)

    def _subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        pages = self.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        return [entry for page in pages for entry in page["Subscriptions"]]

    # ------------------------------------------------------------------ DynamoDB
    def table(self, spec: TableSpec) -> None:
        dynamodb = self.client("dynamodb")
        arguments: dict[str, Any] = {
            "TableName": spec.name,
            "KeySchema": spec.key_schema,
            "AttributeDefinitions": spec.attribute_definitions,
            "BillingMode": spec.billing_mode,
        }
        throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        indexes = [dict(index) for index in spec.global_secondary_indexes]
        if spec.billing_mode == "PROVISIONED":
            arguments["ProvisionedThroughput"] = throughput
            for index in indexes:
                index.setdefault("ProvisionedThroughput", throughput)
        else:
            for index in indexes:
                index.pop("ProvisionedThroughput", None)
        if indexes:
            arguments["GlobalSecondaryIndexes"] = indexes
        created = _exists(lambda: dynamodb.create_table(**arguments), {"ResourceInUseException"})
        if created is not None and spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        log.debug("table %s %s", spec.name, "created" if created else "found")

    # ------------------------------------------------------------------ EventBridge
    def bus(self, spec: BusSpec) -> None:
        if spec.name == "default":
            return
        _exists(
            lambda: self.client("events").create_event_bus(Name=spec.name),
            {"ResourceAlreadyExistsException"},
        )
        log.debug("event bus %s ready", spec.name)

    def rule(self, spec: RuleSpec) -> None:
        events = self.client("events")
        arguments: dict[str, Any] = {"Name": spec.name, "EventBusName": spec.bus_name, "State": spec.state}
        if spec.event_pattern is None:
            # A schedule: the engine fires it on its clock.
            for target in spec.targets:
                if not target.arn.startswith("arn:aws:lambda:"):
                    log.warning(
                        "rule %s: scheduled target %s (%s) is not delivered locally; only a schedule's "
                        "Lambda targets are invoked",
                        spec.name,
                        target.id,
                        target.arn,
                    )
            return
        arguments["EventPattern"] = json.dumps(spec.event_pattern)
        events.put_rule(**arguments)
        targets = []
        for target in spec.targets:
            service = target.arn.split(":")[2] if target.arn.count(":") >= 2 else ""
            if service not in _ENDPOINT_TARGET_SERVICES:
                # moto raises out of put_events for any other target type, even on a
                # disabled rule; Lambda targets are the engine's bridge.
                if service == "lambda":
                    log.debug("rule %s: target %s (%s) is the engine's", spec.name, target.id, target.arn)
                else:
                    log.warning(
                        "rule %s: target %s (%s) is not delivered locally; a rule's SQS, CloudWatch Logs, "
                        "event bus and Lambda targets are",
                        spec.name,
                        target.id,
                        target.arn,
                    )
                continue
            entry: dict[str, Any] = {"Id": target.id, "Arn": target.arn}
            if target.input is not None:
                entry["Input"] = target.input
            if target.input_path is not None:
                entry["InputPath"] = target.input_path
            if target.input_transformer is not None:
                entry["InputTransformer"] = target.input_transformer
            targets.append(entry)
        if targets:
            events.put_targets(Rule=spec.name, EventBusName=spec.bus_name, Targets=targets)
        log.debug("rule %s ready with %d target(s) at the endpoint", spec.name, len(targets))

    # ------------------------------------------------------------------ Lambda
    def function(self, spec: FunctionSpec) -> None:
        lambda_client = self.client("lambda")
        found = _exists(
            lambda: lambda_client.get_function(FunctionName=spec.name), {"ResourceNotFoundException"}
        )
        if found is None:
            arguments: dict[str, Any] = {
                "FunctionName": spec.name,
                "Runtime": spec.runtime or "python3.13",
                "Role": self.role(spec),
                "Handler": spec.handler or "placeholder.handler",
                "Code": {"ZipFile": placeholder_zip()},
                "Timeout": spec.timeout,
                "MemorySize": spec.memory_size,
                "Architectures": list(spec.architectures),
                "Environment": {"Variables": spec.environment},
            }
            if spec.dead_letter_target_arn:
                arguments["DeadLetterConfig"] = {"TargetArn": spec.dead_letter_target_arn}
            lambda_client.create_function(**arguments)
            log.debug("function %s created", spec.name)
        if spec.reserved_concurrency is not None:
            lambda_client.put_function_concurrency(
                FunctionName=spec.name, ReservedConcurrentExecutions=spec.reserved_concurrency
            )
        self.versions(spec)
        self.aliases(spec)

    def role(self, spec: FunctionSpec) -> str:
        iam = self.client("iam")
        name = f"asyncrun-{spec.name}"[:64]
        response = _exists(
            lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY),
            {"EntityAlreadyExists"},
            lambda: iam.get_role(RoleName=name),
        )
        assert response is not None
        return str(response["Role"]["Arn"])

    def versions(self, spec: FunctionSpec) -> None:
        if not spec.versions:
            return
        lambda_client = self.client("lambda")
        published = {
            entry["Version"]
            for page in lambda_client.get_paginator("list_versions_by_function").paginate(
                FunctionName=spec.name
            )
            for entry in page["Versions"]
        }
        wanted = max(int(version) for version in spec.versions)
        missing = sum(1 for number in range(1, wanted + 1) if str(number) not in published)
        for _ in range(missing):
            # Versions are numbered by the service; publishing in order yields 1, 2, ...
            # (the placeholder code never changes, so each publish is forced by a new
            # description).
            lambda_client.publish_version(FunctionName=spec.name, Description=f"asyncrun {_ + 1}")
        log.debug("function %s: versions %s", spec.name, ", ".join(spec.versions))

    def aliases(self, spec: FunctionSpec) -> None:
        lambda_client = self.client("lambda")
        for alias, version in spec.aliases.items():
            try:
                lambda_client.create_alias(FunctionName=spec.name, Name=alias, FunctionVersion=version)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in (
                    "ResourceConflictException",
                    "ConflictException",
                ):
                    raise
                lambda_client.update_alias(FunctionName=spec.name, Name=alias, FunctionVersion=version)
            log.debug("function %s: alias %s -> %s", spec.name, alias, version)
