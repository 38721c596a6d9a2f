"""Reads a SAM (or plain CloudFormation) template the way SAM and CloudFormation would
deploy it, and produces the resolved `Stack`: parameters from defaults, samconfig and
overrides; the SAM transform run offline; conditions applied; names, ARNs and
properties resolved to concrete values."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from asyncrun.endpoint import DEFAULT_ACCOUNT_ID
from asyncrun.intrinsics import NO_VALUE, Intrinsics, TemplateError, scalar_text
from asyncrun.samconfig import read_samconfig
from asyncrun.stack import (
    LATEST,
    BucketSpec,
    BusSpec,
    FunctionSpec,
    InvokeConfig,
    LambdaNotification,
    QueueSpec,
    RuleSpec,
    RuleTarget,
    Stack,
    SubscriptionSpec,
    TableSpec,
    TopicSpec,
)

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_STACK_NAME",
    "TemplateError",
    "generated_name",
    "load_stack",
    "read_template",
    "resolve_parameters",
]

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "sam-app"  # what `sam deploy --guided` proposes
DEFAULT_REGION = "us-east-1"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Local code folders are swapped for s3:// placeholders before the SAM transform (which
# insists on S3 locations) and swapped back afterwards.
LOCAL_CODE_BUCKET = "asyncrun-local"
_NAME_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---------------------------------------------------------------------- entry point
def load_stack(
    template: Path,
    *,
    stack_name: str | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
    config_env: str = "default",
    region: str | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Stack:
    template = Path(template)
    document = read_template(template)
    config = read_samconfig(template.parent, config_env)
    stack_name = stack_name or config.stack_name or DEFAULT_STACK_NAME
    region = region or config.region or DEFAULT_REGION
    parameters = resolve_parameters(document, {**config.parameter_overrides, **(parameter_overrides or {})})
    pseudo = _pseudo_parameters(stack_name, region, account_id)
    code_paths: dict[str, str] = {}
    if _uses_sam_transform(document):
        document = _translate(document, {**parameters, **pseudo}, region, code_paths)
    return _StackBuilder(
        document,
        template_path=template.resolve(),
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=parameters,
        pseudo=pseudo,
        code_paths=code_paths,
    ).build()


def read_template(path: Path) -> dict[str, Any]:
    """The template as a dict, YAML short tags (`!Ref`, `!Sub`...) turned into their
    long forms."""
    from samtranslator.yaml_helper import yaml_parse  # heavy import, only when reading

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise TemplateError(f"template not found: {path}") from None
    except OSError as error:
        raise TemplateError(f"cannot read template {path}: {error.strerror}") from None
    try:
        document = json.loads(text) if Path(path).suffix == ".json" else yaml_parse(text)
    except Exception as error:  # yaml and json raise several types; all mean "not a template"
        first_line = str(error).replace("\n", " ")
        raise TemplateError(f"{path}: not valid YAML/JSON: {first_line}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a template (no Resources section)")
    return document


# ---------------------------------------------------------------------- parameters
def resolve_parameters(document: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each parameter's value: the override, else the default; checked against its
    constraints. List types resolve to lists, everything else to text."""
    declared: Mapping[str, Any] = document.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise TemplateError(
            f"parameter {unknown[0]}: the template declares no such parameter (it has: {known})"
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec or {}
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(
                f"parameter {name} has no default: give it with --parameter-overrides {name}=..."
            )
        values[name] = _checked_parameter(name, spec, raw)
    return values


def _checked_parameter(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    kind = str(spec.get("Type", "String"))
    is_list = kind.startswith("List<") or kind == "CommaDelimitedList"
    if is_list:
        items = raw if isinstance(raw, list) else [item.strip() for item in str(raw).split(",")]
        texts = [scalar_text(item, f"parameter {name}") for item in items]
        if raw in ("", []):
            texts = []
        for text in texts:
            _check_value(name, spec, text, numeric=kind == "List<Number>")
        return texts
    text = scalar_text(raw, f"parameter {name}")
    _check_value(name, spec, text, numeric=kind == "Number")
    return text


def _check_value(name: str, spec: Mapping[str, Any], text: str, *, numeric: bool) -> None:
    hint = f" ({spec['ConstraintDescription']})" if spec.get("ConstraintDescription") else ""
    number: float | None = None
    if numeric:
        try:
            number = float(text)
        except ValueError:
            raise TemplateError(f"parameter {name}: {text!r} is not a number{hint}") from None
    allowed = spec.get("AllowedValues")
    if allowed is not None:
        allowed_texts = [scalar_text(item, f"parameter {name} AllowedValues") for item in allowed]
        matches = text in allowed_texts or (
            number is not None and any(_same_number(number, item) for item in allowed_texts)
        )
        if not matches:
            raise TemplateError(
                f"parameter {name}: {text!r} is not one of the allowed values "
                f"({', '.join(allowed_texts)}){hint}"
            )
    if number is not None:
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}: {text} is below the minimum {spec['MinValue']}{hint}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}: {text} is above the maximum {spec['MaxValue']}{hint}")
    else:
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            raise TemplateError(
                f"parameter {name}: {text!r} is shorter than {spec['MinLength']} characters{hint}"
            )
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            raise TemplateError(
                f"parameter {name}: {text!r} is longer than {spec['MaxLength']} characters{hint}"
            )
        if "AllowedPattern" in spec:
            import re

            if re.fullmatch(str(spec["AllowedPattern"]), text) is None:
                raise TemplateError(
                    f"parameter {name}: {text!r} does not match the pattern {spec['AllowedPattern']}{hint}"
                )


def _same_number(number: float, text: str) -> bool:
    try:
        return float(text) == number
    except ValueError:
        return False


def _pseudo_parameters(stack_name: str, region: str, account_id: str) -> dict[str, Any]:
    stack_uuid = uuid.UUID(bytes=hashlib.sha256(f"{account_id}/{region}/{stack_name}".encode()).digest()[:16])
    return {
        "AWS::StackName": stack_name,
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/{stack_uuid}",
        "AWS::NotificationARNs": [],
    }


# ---------------------------------------------------------------------- the SAM transform
def _uses_sam_transform(document: Mapping[str, Any]) -> bool:
    transform = document.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def _translate(
    document: dict[str, Any], parameter_values: dict[str, Any], region: str, code_paths: dict[str, str]
) -> dict[str, Any]:
    """The SAM transform, offline: no IAM lookup of managed policies, and local code
    folders hidden behind placeholders the translator accepts."""
    from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    document = copy.deepcopy(document)
    _hide_local_code(document, code_paths)
    values = dict(parameter_values)
    to_py27_compatible_template(document, values)
    # The translator reads only `region_name` from its session. A real session would
    # resolve the user's AWS profile, and a profile that does not exist stops it.
    region_only = SimpleNamespace(region_name=region)
    translator = Translator(None, Parser(), boto_session=region_only)
    try:
        translated = translator.translate(document, values, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as error:
        raise TemplateError(" ".join(cause.message for cause in error.causes)) from None
    except ExceptionWithMessage as error:
        raise TemplateError(error.message) from None
    finally:
        # The translator times itself; its publisher discards the numbers, but unpublished
        # ones make it warn at exit.
        translator.metrics.publish()
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def _hide_local_code(document: dict[str, Any], code_paths: dict[str, str]) -> None:
    def hide(properties: dict[str, Any], key: str, token: str) -> None:
        value = properties.get(key)
        if isinstance(value, str) and not value.startswith("s3://"):
            code_paths[token] = value
            properties[key] = f"s3://{LOCAL_CODE_BUCKET}/{token}"

    for section, key in (("Function", "CodeUri"), ("LayerVersion", "ContentUri")):
        globals_section = (document.get("Globals") or {}).get(section)
        if isinstance(globals_section, dict):
            hide(globals_section, key, f"Globals/{section}")
    for logical_id, resource in document["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        if resource.get("Type") == "AWS::Serverless::Function":
            hide(resource["Properties"], "CodeUri", logical_id)
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            hide(resource["Properties"], "ContentUri", logical_id)


# ---------------------------------------------------------------------- names
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


class _Resources:
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
        fifo = (kind == "AWS::SQS::Queue" and _truthy(self.property(logical_id, "FifoQueue"))) or (
            kind == "AWS::SNS::Topic" and _truthy(self.property(logical_id, "FifoTopic"))
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
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

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
        name = reference
        if reference.startswith("arn:"):
            parts = reference.split(":")
            name = parts[6] if len(parts) > 6 else reference
        else:
            name = reference.split(":", 1)[0]
        for logical_id in self.of_type("AWS::Lambda::Function"):
            if self.name(logical_id) == name:
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


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# ---------------------------------------------------------------------- the stack
class _StackBuilder:
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
        self.resources = _Resources({}, {}, stack_name=stack_name, region=region, account_id=account_id)
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
                    fifo=_truthy(res.property(logical_id, "FifoTopic")),
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
            function_name=res.name(function_id) if function_id else reference.split(":")[-1],
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
                log.debug("%s: %s are not set up locally", logical_id, kind)
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
            raw_message_delivery=_truthy(res.property(logical_id, "RawMessageDelivery")),
            filter_policy=policy,
            filter_policy_scope=None if scope is None else str(scope),
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
            ttl_attribute=str(ttl["AttributeName"]) if _truthy(ttl.get("Enabled")) else None,
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


def _integer(value: Any, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: {value!r} is not a number") from None
    if not number.is_integer():
        raise TemplateError(f"{where}: {value!r} is not a whole number")
    return int(number)
