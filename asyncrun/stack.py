"""The resolved stack: what a SAM template becomes once translated, with every name,
ARN and setting concrete. The template reader produces it; the provisioner and the
engine consume it. Nothing here talks to AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LATEST = "$LATEST"


@dataclass(frozen=True)
class LambdaNotification:
    """One `LambdaConfigurations` entry of a bucket's notification configuration."""

    id: str
    function_arn: str  # as the template wrote it: may be qualified with an alias or version
    events: tuple[str, ...]  # e.g. ("s3:ObjectCreated:*",)
    prefix: str = ""
    suffix: str = ""


@dataclass
class FunctionSpec:
    logical_id: str
    name: str  # physical name
    arn: str  # unqualified ARN
    code_dir: Path  # the folder CodeUri names, resolved against the template's folder
    handler: str  # "app.lambda_handler"
    runtime: str
    timeout: int  # seconds
    memory_size: int
    architectures: tuple[str, ...] = ("x86_64",)
    layer_dirs: tuple[Path, ...] = ()  # ContentUri folders of the function's layers, in order
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    dead_letter_target_arn: str | None = None  # SQS queue or SNS topic ARN
    recursive_loop: str = "Terminate"  # or "Allow"
    versions: tuple[str, ...] = ()  # published versions, "1", "2", ...
    aliases: dict[str, str] = field(default_factory=dict)  # alias name -> version
    log_group: str = ""
    log_format: str = "Text"  # LoggingConfig.LogFormat: "Text" or "JSON"
    application_log_level: str = "INFO"  # LoggingConfig.ApplicationLogLevel (JSON format only)


@dataclass
class InvokeConfig:
    """`AWS::Lambda::EventInvokeConfig` for a function, version or alias."""

    function_name: str  # physical name
    qualifier: str = LATEST  # "$LATEST", a version, or an alias name
    maximum_retry_attempts: int = 2
    maximum_event_age_seconds: int = 21600
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None


@dataclass
class BucketSpec:
    logical_id: str
    name: str
    arn: str
    versioned: bool = False
    notifications: tuple[LambdaNotification, ...] = ()


@dataclass
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    url: str = ""  # filled in by the provisioner
    fifo: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class TopicSpec:
    logical_id: str
    name: str
    arn: str
    fifo: bool = False


@dataclass
class SubscriptionSpec:
    logical_id: str
    topic_arn: str
    protocol: str  # "sqs", "lambda", "email", ...
    endpoint: str
    raw_message_delivery: bool = False
    filter_policy: dict | None = None
    filter_policy_scope: str | None = None  # "MessageAttributes" | "MessageBody"


@dataclass
class TableSpec:
    logical_id: str
    name: str
    arn: str
    key_schema: list[dict]
    attribute_definitions: list[dict]
    billing_mode: str = "PAY_PER_REQUEST"
    global_secondary_indexes: list[dict] = field(default_factory=list)
    ttl_attribute: str | None = None


@dataclass
class BusSpec:
    logical_id: str
    name: str
    arn: str


@dataclass
class RuleTarget:
    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: dict | None = None


@dataclass
class RuleSpec:
    logical_id: str
    name: str
    arn: str
    bus_name: str
    event_pattern: dict | None
    targets: list[RuleTarget] = field(default_factory=list)
    state: str = "ENABLED"


@dataclass
class Stack:
    name: str
    region: str
    account_id: str
    template_path: Path
    parameters: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by logical id
    invoke_configs: list[InvokeConfig] = field(default_factory=list)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    topics: dict[str, TopicSpec] = field(default_factory=dict)
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    buses: dict[str, BusSpec] = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def find_function(self, ref: str) -> tuple[FunctionSpec, str | None]:
        """A function by logical id, name, or ARN (qualified or not), with the qualifier
        the reference carried (None when it had none)."""
        qualifier: str | None = None
        name = ref
        if ref.startswith("arn:"):
            parts = ref.split(":")
            name = parts[6]
            qualifier = parts[7] if len(parts) > 7 else None
        elif ":" in ref:
            name, qualifier = ref.split(":", 1)
        for spec in self.functions.values():
            if name in (spec.logical_id, spec.name):
                return spec, qualifier
        raise KeyError(f"no function {ref!r} in stack {self.name!r}")

    def find_bucket(self, ref: str) -> BucketSpec:
        for spec in self.buckets.values():
            if ref in (spec.logical_id, spec.name, spec.arn):
                return spec
        raise KeyError(f"no bucket {ref!r} in stack {self.name!r}")

    def find_queue(self, ref: str) -> QueueSpec:
        for spec in self.queues.values():
            if ref in (spec.logical_id, spec.name, spec.arn, spec.url):
                return spec
        raise KeyError(f"no queue {ref!r} in stack {self.name!r}")
