"""Physical names, ARNs and attributes of a template's resources, as CloudFormation
makes them up and `Ref` / `Fn::GetAtt` return them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from asyncrun.stack.intrinsics import NO_VALUE, Intrinsics, TemplateError, scalar_text
from asyncrun.stack.model import (
    FunctionReference,
    function_arn,
)

_NAME_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def generated_name(
    stack_name: str, logical_id: str, limit: int, *, lowercase: bool = False, suffix: str = ""
) -> str:
    """A name the way CloudFormation makes one up, `{stack}-{LogicalId}-{13 random}`,
    except that the random part comes from a hash: the same stack finds the same
    resources again on the next run."""
    digest = int.from_bytes(hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest())
    random_part = ""
    for _ in range(13):
        digest, index = divmod(digest, len(_NAME_ALPHABET))
        random_part += _NAME_ALPHABET[index]
    prefix = f"{stack_name}-{logical_id}"[: max(0, limit - len(suffix) - 14)]
    name = f"{prefix}-{random_part}{suffix}"
    return name.lower() if lowercase else name


# Per resource type: the property that names it, the service's length limit, whether
# the name must be lower case.
_NAMING: dict[str, tuple[str, int, bool]] = {
    "AWS::S3::Bucket": ("BucketName", 63, True),
    "AWS::SQS::Queue": ("QueueName", 80, False),
    "AWS::SNS::Topic": ("TopicName", 256, False),
    "AWS::DynamoDB::Table": ("TableName", 255, False),
    "AWS::Lambda::Function": ("FunctionName", 64, False),
    "AWS::Lambda::LayerVersion": ("LayerName", 140, False),
    "AWS::Events::EventBus": ("Name", 256, False),
    "AWS::Events::Rule": ("Name", 64, False),
    "AWS::IAM::Role": ("RoleName", 64, False),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", 128, False),
    "AWS::IAM::Policy": ("PolicyName", 128, False),
    "AWS::Logs::LogGroup": ("LogGroupName", 512, False),
    "AWS::CloudWatch::Alarm": ("AlarmName", 255, False),
    "AWS::KMS::Alias": ("AliasName", 256, False),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", 80, False),
}


class TemplateResources:
    """Physical ids and attributes of the template's resources, computed on demand."""

    def __init__(
        self,
        resources: Mapping[str, Mapping[str, Any]],
        dropped: Mapping[str, str],
        *,
        stack_name: str,
        region: str,
        account_id: str,
    ) -> None:
        self.resources = resources
        self.dropped = dropped  # logical id -> the condition that left it out
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.intrinsics: Intrinsics  # set by the builder (the two refer to each other)
        self._names: dict[str, str] = {}

    # -- ResourceResolver
    def has_resource(self, logical_id: str) -> bool:
        return logical_id in self.resources or logical_id in self.dropped

    def ref(self, logical_id: str) -> Any:
        kind = self._type(logical_id)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(self.name(logical_id))
        if kind == "AWS::SNS::Topic":
            return self.arn(logical_id)
        if kind == "AWS::Lambda::Version":
            function_id, number = self.version_numbers[logical_id]
            return f"{self.arn(function_id)}:{number}"
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::LayerVersion", "AWS::IAM::ManagedPolicy"):
            return self.arn(logical_id)
        if kind == "AWS::KMS::Key":
            return str(self._uuid(logical_id))
        if kind == "AWS::SNS::Subscription":
            topic = self.property_text(logical_id, "TopicArn")
            return f"{topic}:{self._uuid(logical_id)}"
        if kind == "AWS::Events::Rule":
            bus = self.rule_bus(logical_id)
            return self.name(logical_id) if bus == "default" else f"{bus}|{self.name(logical_id)}"
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self._type(logical_id)
        name = self.name(logical_id)
        region = self.region
        known: dict[str, Any] = {}
        if kind == "AWS::S3::Bucket":
            known = {
                "Arn": self.arn(logical_id),
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
            }
        elif kind == "AWS::SQS::Queue":
            known = {"Arn": self.arn(logical_id), "QueueName": name, "QueueUrl": self.queue_url(name)}
        elif kind == "AWS::SNS::Topic":
            known = {"TopicArn": self.arn(logical_id), "TopicName": name}
        elif kind == "AWS::DynamoDB::Table":
            arn = self.arn(logical_id)
            known = {"Arn": arn, "StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"}
        elif kind == "AWS::Lambda::Function":
            known = {"Arn": self.arn(logical_id)}
        elif kind == "AWS::Lambda::Version":
            function_id, number = self.version_numbers[logical_id]
            known = {"Version": number, "FunctionArn": self.arn(function_id)}
        elif kind == "AWS::Lambda::Alias":
            known = {"AliasArn": self.arn(logical_id)}
        elif kind == "AWS::Lambda::LayerVersion":
            known = {"LayerVersionArn": self.arn(logical_id)}
        elif kind == "AWS::Events::EventBus":
            known = {"Arn": self.arn(logical_id), "Name": name}
        elif kind == "AWS::IAM::Role":
            known = {"Arn": self.arn(logical_id), "RoleId": "AROA" + self._uuid(logical_id).hex[:17].upper()}
        elif kind == "AWS::KMS::Key":
            known = {"Arn": self.arn(logical_id), "KeyId": str(self._uuid(logical_id))}
        else:
            known = {"Arn": self.arn(logical_id)}
            if kind not in _NAMING and kind not in ("AWS::Events::Rule",):
                # Not emulated: any attribute gets a plausible value rather than an error.
                return known.get(attribute, f"{name}.{attribute}")
        if attribute not in known:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute}: {kind} has no attribute {attribute!r} "
                f"(known: {', '.join(known)})"
            )
        return known[attribute]

    # -- names and ARNs
    def _type(self, logical_id: str) -> str:
        if logical_id in self.dropped:
            raise TemplateError(
                f"{logical_id} is referenced, but its condition {self.dropped[logical_id]} is false"
            )
        return str(self.resources[logical_id].get("Type", ""))

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def property(self, logical_id: str, key: str, default: Any = None) -> Any:
        raw = self.properties(logical_id).get(key)
        if raw is None:
            return default
        value = self.intrinsics.resolve(raw, f"Resources.{logical_id}.Properties.{key}")
        return default if value is NO_VALUE else value

    def property_text(self, logical_id: str, key: str, default: str | None = None) -> str:
        value = self.property(logical_id, key)
        if value is None:
            if default is None:
                raise TemplateError(f"Resources.{logical_id}.Properties.{key} is required")
            return default
        return scalar_text(value, f"Resources.{logical_id}.Properties.{key}")

    def name(self, logical_id: str) -> str:
        if logical_id not in self._names:
            kind = self._type(logical_id)
            with self.intrinsics.guard(logical_id):
                self._names[logical_id] = self._make_name(logical_id, kind)
        return self._names[logical_id]

    def _make_name(self, logical_id: str, kind: str) -> str:
        if kind == "AWS::Lambda::Alias":
            return self.property_text(logical_id, "Name")
        prop, limit, lowercase = _NAMING.get(kind, ("", 255, False))
        given = self.property(logical_id, prop) if prop else None
        if given is not None:
            return scalar_text(given, f"Resources.{logical_id}.Properties.{prop}")
        fifo = (kind == "AWS::SQS::Queue" and truthy(self.property(logical_id, "FifoQueue"))) or (
            kind == "AWS::SNS::Topic" and truthy(self.property(logical_id, "FifoTopic"))
        )
        return generated_name(
            self.stack_name, logical_id, limit, lowercase=lowercase, suffix=".fifo" if fifo else ""
        )

    def arn(self, logical_id: str) -> str:
        kind = self._type(logical_id)
        name = self.name(logical_id)
        region, account = self.region, self.account_id
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{region}:{account}:{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        if kind == "AWS::Lambda::Function":
            return self.function_arn(name)
        if kind == "AWS::Lambda::Alias":
            function_id = self.function_of(logical_id)
            return f"{self.arn(function_id)}:{name}"
        if kind == "AWS::Lambda::LayerVersion":
            return f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{region}:{account}:event-bus/{name}"
        if kind == "AWS::Events::Rule":
            bus = self.rule_bus(logical_id)
            path = name if bus == "default" else f"{bus}/{name}"
            return f"arn:aws:events:{region}:{account}:rule/{path}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{account}:role/{name}"
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{account}:policy/{name}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{region}:{account}:key/{self._uuid(logical_id)}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
        if kind == "AWS::CloudWatch::Alarm":
            return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
        resource = kind.rsplit("::", 1)[-1].lower()
        return f"arn:aws:{service}:{region}:{account}:{resource}/{name}"

    def function_arn(self, name: str) -> str:
        return function_arn(self.region, self.account_id, name)

    def queue_url(self, name: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"

    def rule_bus(self, logical_id: str) -> str:
        bus = self.property(logical_id, "EventBusName")
        if bus is None:
            return "default"
        text = scalar_text(bus, f"Resources.{logical_id}.Properties.EventBusName")
        return text.rsplit("event-bus/", 1)[-1]

    def _uuid(self, logical_id: str) -> uuid.UUID:
        seed = f"{self.account_id}/{self.region}/{self.stack_name}/{logical_id}".encode()
        return uuid.UUID(bytes=hashlib.sha256(seed).digest()[:16])

    # -- functions, versions, aliases
    def of_type(self, kind: str) -> list[str]:
        return [logical_id for logical_id, resource in self.resources.items() if resource.get("Type") == kind]

    def function_by_reference(self, reference: str) -> str | None:
        """The logical id of the stack's function a name or (qualified) ARN points at."""
        parsed = FunctionReference.parse(reference)
        if parsed is None:
            return None
        for logical_id in self.of_type("AWS::Lambda::Function"):
            if self.name(logical_id) == parsed.name:
                return logical_id
        return None

    def function_of(self, logical_id: str) -> str:
        reference = self.property_text(logical_id, "FunctionName")
        function_id = self.function_by_reference(reference)
        if function_id is None:
            raise TemplateError(
                f"Resources.{logical_id}.Properties.FunctionName: {reference!r} "
                "is not a function of this template"
            )
        return function_id

    @cached_property
    def version_numbers(self) -> dict[str, tuple[str, str]]:
        """Version logical id -> (function logical id, "1", "2"...), numbered per
        function in the order the versions appear, as publishing them would."""
        numbers: dict[str, tuple[str, str]] = {}
        counts: dict[str, int] = {}
        for logical_id in self.of_type("AWS::Lambda::Version"):
            with self.intrinsics.guard(logical_id):
                function_id = self.function_of(logical_id)
            counts[function_id] = counts.get(function_id, 0) + 1
            numbers[logical_id] = (function_id, str(counts[function_id]))
        return numbers


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
