"""The resolved stack: what a SAM template becomes once translated, with every name,
ARN and setting concrete. The template reader produces it; the provisioner and the
engine consume it. Nothing here talks to AWS."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

LATEST = "$LATEST"
DEFAULT_ACCOUNT_ID = "123456789012"  # the account local endpoints (moto) use unless told otherwise
# The longest function reference the service accepts (botocore's `NamespacedFunctionName`).
FUNCTION_REFERENCE_MAX_LENGTH = 256
# botocore's `NamespacedFunctionName` pattern, as the service reports it in a validation
# error: a name, partial ARN or ARN, each optionally qualified.
FUNCTION_REFERENCE_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
# The same shape with its parts named.
_FUNCTION_REFERENCE = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9-_\.]+)(?::(?P<qualifier>[a-zA-Z0-9-_$\.]+))?"
)


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    """A function's ARN, qualified when a qualifier is given."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True)
class FunctionReference:
    """What a function reference names: a name, a partial ARN (`account:function:name`)
    or an ARN, each optionally qualified (`name:alias`). Region and account are None
    where the reference leaves them to the caller's."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> FunctionReference | None:
        """The reference's parts, or None when the service would not accept it."""
        match = _FUNCTION_REFERENCE.fullmatch(text)
        if match is None or len(text) > FUNCTION_REFERENCE_MAX_LENGTH:
            return None
        return cls(match["name"], match["qualifier"], match["region"], match["account"])

    @property
    def is_bare(self) -> bool:
        """A name alone (perhaps qualified): no region, account or `function:` part."""
        return self.region is None and self.account_id is None


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
    unapplied: tuple[str, ...] = ()  # settings of a Lambda subscription the runner does not apply


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
    ignored: tuple[str, ...] = ()  # target settings the runner does not apply (RetryPolicy, ...)


@dataclass
class RuleSpec:
    logical_id: str
    name: str
    arn: str
    bus_name: str
    event_pattern: dict | None
    targets: list[RuleTarget] = field(default_factory=list)
    state: str = "ENABLED"
    schedule_expression: str | None = None  # rate(...) or cron(...)


@dataclass
class SchedulerScheduleSpec:
    """`AWS::Scheduler::Schedule` (SAM `ScheduleV2`) with a Lambda target."""

    logical_id: str
    name: str
    group: str
    expression: str  # rate(...), cron(...) or at(...)
    target_arn: str
    input: str | None = None
    timezone: str = "UTC"
    state: str = "ENABLED"
    start_date: float | None = None  # epoch seconds
    end_date: float | None = None
    unsupported: tuple[str, ...] = ()  # what the runner does not do for it, one sentence each


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
    scheduler_schedules: list[SchedulerScheduleSpec] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN a function of this stack's region and account has under `name`."""
        return function_arn(self.region, self.account_id, name, qualifier)

    def function_named(
        self, reference: FunctionReference, *, by_logical_id: bool = True
    ) -> FunctionSpec | None:
        """The stack's function a parsed reference names: by its name, in this stack's
        region and account; by its logical id too when the reference is a bare name and
        `by_logical_id` (a local convenience: the service knows names only)."""
        if (reference.region or self.region) != self.region:
            return None
        if (reference.account_id or self.account_id) != self.account_id:
            return None
        for spec in self.functions.values():
            if reference.name == spec.name or (
                by_logical_id and reference.is_bare and reference.name == spec.logical_id
            ):
                return spec
        return None

    def find_function(self, ref: str) -> tuple[FunctionSpec, str | None]:
        """A function by logical id, name, or ARN (qualified or not), with the qualifier
        the reference carried (None when it had none). The qualifier is not checked:
        `asyncrun.stack.resolve` answers as the service does."""
        reference = FunctionReference.parse(ref)
        spec = self.function_named(reference) if reference else None
        if reference is None or spec is None:
            raise KeyError(f"no function {ref!r} in stack {self.name!r}")
        return spec, reference.qualifier

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
