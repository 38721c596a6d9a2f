"""The resolved `Stack` built from a translated template: each emulated resource's
spec with its names, ARNs and properties concrete."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asyncrun.stack.intrinsics import NO_VALUE, Intrinsics, TemplateError, scalar_text
from asyncrun.stack.model import (
    LATEST,
    BucketSpec,
    BusSpec,
    FunctionSpec,
    InvokeConfig,
    LambdaNotification,
    QueueSpec,
    RuleSpec,
    RuleTarget,
    SchedulerScheduleSpec,
    Stack,
    SubscriptionSpec,
    TableSpec,
    TopicSpec,
)
from asyncrun.stack.names import TemplateResources, truthy
from asyncrun.stack.transform import LOCAL_CODE_BUCKET

log = logging.getLogger(__name__)


class StackBuilder:
    """The template's resources, conditions applied, turned into the stack's specs."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        template_path: Path,
        stack_name: str,
        region: str,
        account_id: str,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        code_paths: Mapping[str, str],
    ) -> None:
        self.document = document
        self.template_path = template_path
        self.folder = template_path.parent
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = parameters
        self.code_paths = code_paths
        raw_resources: Mapping[str, Any] = document.get("Resources") or {}
        # Conditions need no resources, so they are evaluated against an empty set first.
        self.resources = TemplateResources(
            {}, {}, stack_name=stack_name, region=region, account_id=account_id
        )
        self.intrinsics = Intrinsics(
            parameters=parameters,
            pseudo=pseudo,
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            resources=self.resources,
            region=region,
        )
        self.resources.intrinsics = self.intrinsics
        kept: dict[str, Mapping[str, Any]] = {}
        dropped: dict[str, str] = {}
        for logical_id, resource in raw_resources.items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise TemplateError(f"Resources.{logical_id}: a resource needs a Type")
            condition = resource.get("Condition")
            if condition is not None and not self.intrinsics.condition(
                str(condition), f"Resources.{logical_id}.Condition"
            ):
                dropped[logical_id] = str(condition)
            else:
                kept[logical_id] = resource
        self.resources.resources = kept
        self.resources.dropped = dropped

    def build(self) -> Stack:
        stack = Stack(
            name=self.stack_name,
            region=self.region,
            account_id=self.account_id,
            template_path=self.template_path,
            parameters={
                name: ",".join(value) if isinstance(value, list) else str(value)
                for name, value in self.parameters.items()
            },
        )
        default_bus_arn = f"arn:aws:events:{self.region}:{self.account_id}:event-bus/default"
        stack.buses["default"] = BusSpec(logical_id="default", name="default", arn=default_bus_arn)
        res = self.resources
        for logical_id, resource in res.resources.items():
            kind = resource["Type"]
            if kind == "AWS::Lambda::Function":
                function = self._function(logical_id)
                stack.functions[logical_id] = function
            elif kind == "AWS::Lambda::EventInvokeConfig":
                stack.invoke_configs.append(self._invoke_config(logical_id))
            elif kind == "AWS::S3::Bucket":
                stack.buckets[logical_id] = self._bucket(logical_id)
            elif kind == "AWS::SQS::Queue":
                stack.queues[logical_id] = self._queue(logical_id)
            elif kind == "AWS::SNS::Topic":
                stack.topics[logical_id] = TopicSpec(
                    logical_id=logical_id,
                    name=res.name(logical_id),
                    arn=res.arn(logical_id),
                    fifo=truthy(res.property(logical_id, "FifoTopic")),
                )
                stack.subscriptions.extend(self._inline_subscriptions(logical_id))
            elif kind == "AWS::SNS::Subscription":
                stack.subscriptions.append(self._subscription(logical_id))
            elif kind == "AWS::DynamoDB::Table":
                stack.tables[logical_id] = self._table(logical_id)
            elif kind == "AWS::Events::EventBus":
                stack.buses[logical_id] = BusSpec(
                    logical_id=logical_id, name=res.name(logical_id), arn=res.arn(logical_id)
                )
            elif kind == "AWS::Events::Rule":
                stack.rules[logical_id] = self._rule(logical_id)
            elif kind == "AWS::Scheduler::Schedule":
                stack.scheduler_schedules.append(self._scheduler_schedule(logical_id))
            elif kind == "AWS::Lambda::EventSourceMapping":
                log.warning(
                    "%s: event source mappings (SQS, Kinesis, DynamoDB streams...) are not emulated; "
                    "nothing polls %s for its function",
                    logical_id,
                    self.resources.property(logical_id, "EventSourceArn", "its source"),
                )
            else:
                log.debug("%s (%s) is not emulated; it is only resolvable by Ref/GetAtt", logical_id, kind)
        self._add_versions_and_aliases(stack)
        stack.outputs = self._outputs()
        return stack

    # -- functions
    def _function(self, logical_id: str) -> FunctionSpec:
        res = self.resources
        name = res.name(logical_id)
        where = f"Resources.{logical_id}.Properties"
        environment = (res.property(logical_id, "Environment") or {}).get("Variables") or {}
        reserved = res.property(logical_id, "ReservedConcurrentExecutions")
        logging_config = res.property(logical_id, "LoggingConfig") or {}
        recursive_loop = res.property(logical_id, "RecursiveLoop", "Terminate")
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=res.function_arn(name),
            code_dir=self._code_dir(logical_id),
            handler=res.property_text(logical_id, "Handler", ""),
            runtime=res.property_text(logical_id, "Runtime", ""),
            timeout=_integer(res.property(logical_id, "Timeout", 3), f"{where}.Timeout"),
            memory_size=_integer(res.property(logical_id, "MemorySize", 128), f"{where}.MemorySize"),
            architectures=tuple(res.property(logical_id, "Architectures") or ("x86_64",)),
            layer_dirs=self._layer_dirs(logical_id),
            environment={
                key: scalar_text(value, f"{where}.Environment.Variables.{key}")
                for key, value in environment.items()
            },
            reserved_concurrency=None
            if reserved is None
            else _integer(reserved, f"{where}.ReservedConcurrentExecutions"),
            dead_letter_target_arn=(res.property(logical_id, "DeadLetterConfig") or {}).get("TargetArn"),
            recursive_loop=str(recursive_loop),
            log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{name}"),
            log_format=str(logging_config.get("LogFormat") or "Text"),
            # Lambda applies a log level only with the JSON format (INFO unless set).
            application_log_level=str(logging_config.get("ApplicationLogLevel") or "INFO"),
        )

    def _code_dir(self, logical_id: str) -> Path:
        code = self.resources.properties(logical_id).get("Code")
        where = f"Resources.{logical_id}.Properties.Code"
        if isinstance(code, str):  # `aws cloudformation package` style: a local path
            return self.folder / code
        if not isinstance(code, dict):
            raise TemplateError(f"{where}: a function needs code")
        if code.get("S3Bucket") == LOCAL_CODE_BUCKET and code.get("S3Key") in self.code_paths:
            return self.folder / self.code_paths[code["S3Key"]]
        if "ZipFile" in code:
            return self._inline_code(self.intrinsics.resolve_text(code["ZipFile"], f"{where}.ZipFile"))
        if "ImageUri" in code:
            raise TemplateError(
                f"{where}: container image functions are not supported; asyncrun runs zip code"
            )
        location = self.intrinsics.resolve(code, where)
        raise TemplateError(f"{where}: code at {json.dumps(location)} is not local; asyncrun runs local code")

    @staticmethod
    def _inline_code(source: str) -> Path:
        # Lambda puts inline Python code in index.py.
        folder = (
            Path(tempfile.gettempdir()) / "asyncrun-inline" / hashlib.sha256(source.encode()).hexdigest()[:16]
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.py").write_text(source)
        return folder

    def _layer_dirs(self, logical_id: str) -> tuple[Path, ...]:
        res = self.resources
        layers = res.properties(logical_id).get("Layers") or []
        local_layers = {res.arn(layer_id): layer_id for layer_id in res.of_type("AWS::Lambda::LayerVersion")}
        folders: list[Path] = []
        for index, entry in enumerate(layers):
            arn = self.intrinsics.resolve(entry, f"Resources.{logical_id}.Properties.Layers[{index}]")
            if arn is NO_VALUE:
                continue
            layer_id = local_layers.get(str(arn))
            folder = self._layer_content(layer_id) if layer_id else None
            if folder is None:
                log.debug("%s: layer %s has no local content; it is left out", logical_id, arn)
                continue
            folders.append(folder)
        return tuple(folders)

    def _layer_content(self, layer_id: str) -> Path | None:
        content = self.resources.properties(layer_id).get("Content")
        if isinstance(content, str):
            return self.folder / content
        if isinstance(content, dict) and content.get("S3Bucket") == LOCAL_CODE_BUCKET:
            relative = self.code_paths.get(str(content.get("S3Key")))
            return self.folder / relative if relative is not None else None
        return None

    def _add_versions_and_aliases(self, stack: Stack) -> None:
        res = self.resources
        by_function: dict[str, list[str]] = {}
        for function_id, number in res.version_numbers.values():
            by_function.setdefault(function_id, []).append(number)
        for function_id, numbers in by_function.items():
            stack.functions[function_id].versions = tuple(numbers)
        for alias_id in res.of_type("AWS::Lambda::Alias"):
            function_id = res.function_of(alias_id)
            version = res.property_text(alias_id, "FunctionVersion")
            stack.functions[function_id].aliases[res.name(alias_id)] = version

    def _invoke_config(self, logical_id: str) -> InvokeConfig:
        res = self.resources
        where = f"Resources.{logical_id}.Properties"
        reference = res.property_text(logical_id, "FunctionName")
        function_id = res.function_by_reference(reference)
        destinations = res.property(logical_id, "DestinationConfig") or {}
        return InvokeConfig(
            function_name=res.name(function_id) if function_id else reference,
            qualifier=res.property_text(logical_id, "Qualifier", LATEST),
            maximum_retry_attempts=_integer(
                res.property(logical_id, "MaximumRetryAttempts", 2), f"{where}.MaximumRetryAttempts"
            ),
            maximum_event_age_seconds=_integer(
                res.property(logical_id, "MaximumEventAgeInSeconds", 21600),
                f"{where}.MaximumEventAgeInSeconds",
            ),
            on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
            on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
        )

    # -- storage and messaging
    def _bucket(self, logical_id: str) -> BucketSpec:
        res = self.resources
        name = res.name(logical_id)
        versioning = res.property(logical_id, "VersioningConfiguration") or {}
        notification = res.property(logical_id, "NotificationConfiguration") or {}
        notifications = []
        for index, entry in enumerate(notification.get("LambdaConfigurations") or []):
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            filters = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
            notifications.append(
                LambdaNotification(
                    id=str(entry.get("Id") or self._notification_id(name, index)),
                    function_arn=str(entry["Function"]),
                    events=(str(entry["Event"]),),
                    prefix=filters.get("prefix", ""),
                    suffix=filters.get("suffix", ""),
                )
            )
        for kind in ("QueueConfigurations", "TopicConfigurations"):
            if notification.get(kind):
                log.warning(
                    "bucket %s: its %s are not set up locally; only Lambda notifications are",
                    logical_id,
                    kind,
                )
        return BucketSpec(
            logical_id=logical_id,
            name=name,
            arn=res.arn(logical_id),
            versioned=versioning.get("Status") == "Enabled",
            notifications=tuple(notifications),
        )

    def _notification_id(self, bucket: str, index: int) -> str:
        # S3 makes up an opaque id when the configuration has none; this one is stable.
        digest = hashlib.sha256(f"{bucket}/{index}".encode()).digest()[:16]
        return str(uuid.UUID(bytes=digest))

    def _queue(self, logical_id: str) -> QueueSpec:
        res = self.resources
        name = res.name(logical_id)
        attributes: dict[str, str] = {}
        for key, value in res.properties(logical_id).items():
            if key in ("QueueName", "Tags"):
                continue
            resolved = self.intrinsics.resolve(value, f"Resources.{logical_id}.Properties.{key}")
            if resolved is NO_VALUE:
                continue
            attributes[key] = (
                json.dumps(resolved)
                if isinstance(resolved, dict)
                else scalar_text(resolved, f"{logical_id}.{key}")
            )
        return QueueSpec(
            logical_id=logical_id,
            name=name,
            arn=res.arn(logical_id),
            fifo=name.endswith(".fifo"),
            attributes=attributes,
        )

    def _inline_subscriptions(self, topic_id: str) -> list[SubscriptionSpec]:
        res = self.resources
        entries = res.property(topic_id, "Subscription") or []
        return [
            SubscriptionSpec(
                logical_id=f"{topic_id}Subscription{index}",
                topic_arn=res.arn(topic_id),
                protocol=str(entry["Protocol"]),
                endpoint=str(entry["Endpoint"]),
            )
            for index, entry in enumerate(entries)
        ]

    def _json_property(self, logical_id: str, name: str) -> Any:
        """A property CloudFormation takes either as an object or as JSON text."""
        value = self.resources.property(logical_id, name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise TemplateError(f"Resources.{logical_id}.Properties.{name} is not JSON") from None

    def _subscription(self, logical_id: str) -> SubscriptionSpec:
        res = self.resources
        policy = self._json_property(logical_id, "FilterPolicy")
        scope = res.property(logical_id, "FilterPolicyScope")
        return SubscriptionSpec(
            logical_id=logical_id,
            topic_arn=res.property_text(logical_id, "TopicArn"),
            protocol=res.property_text(logical_id, "Protocol"),
            endpoint=res.property_text(logical_id, "Endpoint", ""),
            raw_message_delivery=truthy(res.property(logical_id, "RawMessageDelivery")),
            filter_policy=policy,
            filter_policy_scope=None if scope is None else str(scope),
            unapplied=tuple(
                name
                for name in ("DeliveryPolicy", "RedrivePolicy", "ReplayPolicy")
                if name in res.properties(logical_id)
            ),
        )

    def _table(self, logical_id: str) -> TableSpec:
        res = self.resources
        ttl = res.property(logical_id, "TimeToLiveSpecification") or {}
        billing = res.property(logical_id, "BillingMode") or (
            "PROVISIONED" if res.properties(logical_id).get("ProvisionedThroughput") else "PAY_PER_REQUEST"
        )
        return TableSpec(
            logical_id=logical_id,
            name=res.name(logical_id),
            arn=res.arn(logical_id),
            key_schema=list(res.property(logical_id, "KeySchema") or []),
            attribute_definitions=list(res.property(logical_id, "AttributeDefinitions") or []),
            billing_mode=str(billing),
            global_secondary_indexes=list(res.property(logical_id, "GlobalSecondaryIndexes") or []),
            ttl_attribute=str(ttl["AttributeName"]) if truthy(ttl.get("Enabled")) else None,
        )

    def _rule(self, logical_id: str) -> RuleSpec:
        res = self.resources
        pattern = self._json_property(logical_id, "EventPattern")
        targets = [
            RuleTarget(
                id=str(target.get("Id", index)),
                arn=str(target["Arn"]),
                input=target.get("Input"),
                input_path=target.get("InputPath"),
                input_transformer=target.get("InputTransformer"),
                ignored=tuple(sorted(set(target) - _APPLIED_TARGET_SETTINGS)),
            )
            for index, target in enumerate(res.property(logical_id, "Targets") or [])
        ]
        return RuleSpec(
            logical_id=logical_id,
            name=res.name(logical_id),
            arn=res.arn(logical_id),
            bus_name=res.rule_bus(logical_id),
            event_pattern=pattern,
            targets=targets,
            state=str(res.property(logical_id, "State", "ENABLED")),
            schedule_expression=res.property(logical_id, "ScheduleExpression"),
        )

    def _scheduler_schedule(self, logical_id: str) -> SchedulerScheduleSpec:
        res = self.resources
        target = res.property(logical_id, "Target") or {}
        window = res.property(logical_id, "FlexibleTimeWindow") or {}
        unsupported = []
        if window.get("Mode", "OFF") != "OFF":
            unsupported.append(
                "FlexibleTimeWindow is not applied locally: it fires at the start of each window"
            )
        for setting in ("RetryPolicy", "DeadLetterConfig"):
            if setting in target:
                unsupported.append(f"Target.{setting} is not applied locally (delivery never fails here)")
        if res.property(logical_id, "KmsKeyArn") is not None:
            unsupported.append("KmsKeyArn is not applied locally")
        return SchedulerScheduleSpec(
            logical_id=logical_id,
            name=res.property_text(logical_id, "Name", logical_id),
            group=res.property_text(logical_id, "GroupName", "default"),
            expression=res.property_text(logical_id, "ScheduleExpression"),
            target_arn=scalar_text(target.get("Arn", ""), f"Resources.{logical_id}.Properties.Target.Arn"),
            input=None if target.get("Input") is None else str(target["Input"]),
            timezone=res.property_text(logical_id, "ScheduleExpressionTimezone", "UTC"),
            state=res.property_text(logical_id, "State", "ENABLED"),
            start_date=_epoch(res.property(logical_id, "StartDate")),
            end_date=_epoch(res.property(logical_id, "EndDate")),
            unsupported=tuple(unsupported),
        )

    def _outputs(self) -> dict[str, str]:
        outputs: dict[str, str] = {}
        for name, output in (self.document.get("Outputs") or {}).items():
            condition = output.get("Condition")
            if condition is not None and not self.intrinsics.condition(str(condition), f"Outputs.{name}"):
                continue
            value = self.intrinsics.resolve(output.get("Value"), f"Outputs.{name}.Value")
            if isinstance(value, list):
                outputs[name] = ",".join(scalar_text(item, f"Outputs.{name}") for item in value)
            elif value is not NO_VALUE:
                outputs[name] = scalar_text(value, f"Outputs.{name}.Value")
        return outputs


# Rule target settings the runner applies itself (the others are named in a warning).
_APPLIED_TARGET_SETTINGS = {"Id", "Arn", "Input", "InputPath", "InputTransformer"}


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _integer(value: Any, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: {value!r} is not a number") from None
    if not number.is_integer():
        raise TemplateError(f"{where}: {value!r} is not a whole number")
    return int(number)
