"""The project's `template.yaml` as tests see it: parsed with its CloudFormation tags,
with a few resolvers for names and environment variables, and an offline SAM
translation. Tests read names, keys and settings from here instead of restating them."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

STACK_NAME = "order-pipeline"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def stand_in_stack_uuid(stack_name: str, account_id: str, region: str) -> str:
    """CloudFormation makes up the UUID at the end of a stack's id; this is the one
    asyncrun makes up (asyncrun/template.py), so that names built from it, in the
    sample events too, are those of the local stack."""
    digest = hashlib.sha256(f"{account_id}/{region}/{stack_name}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Template:
    path: Path
    body: dict[str, Any]
    stack_name: str = STACK_NAME
    account_id: str = ACCOUNT_ID
    region: str = REGION
    stack_uuid: str = ""  # the stand-in when empty
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH, **kwargs: Any) -> Template:
        return cls(path=path, body=yaml_parse(path.read_text()), **kwargs)

    # ------------------------------------------------------------------ reading
    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body["Resources"]

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Parameters", {})

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Outputs", {})

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == resource_type}

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Serverless::Function")

    def parameter(self, name: str) -> str:
        if name in self.parameter_overrides:
            return str(self.parameter_overrides[name])
        return str(self.parameters[name]["Default"])

    def function_property(self, logical_id: str, name: str) -> Any:
        """A function property with Globals applied (the function's own value wins)."""
        own = self.properties(logical_id)
        if name in own:
            return own[name]
        return self.body.get("Globals", {}).get("Function", {}).get(name)

    # ------------------------------------------------------------------ resolving
    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets: its explicit name property, else the stand-in
        `<stack>-<LogicalId>` (CloudFormation would add a random suffix; bucket names are
        lower case)."""
        properties = self.properties(logical_id)
        for name_property in ("BucketName", "TableName", "QueueName", "TopicName", "FunctionName"):
            if name_property in properties:
                return str(self.resolve(properties[name_property]))
        name = f"{self.stack_name}-{logical_id}"
        return name.lower() if self.resources[logical_id]["Type"] == "AWS::S3::Bucket" else name

    def resolve(self, value: Any) -> Any:
        """Resolve the intrinsics our environment variables and names use: Ref of a
        parameter, pseudo parameter or resource, Fn::Sub of those (with its own
        variables), Fn::Select and Fn::Split."""
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self._ref(argument)
            if function == "Fn::Sub":
                text, own = (argument, {}) if isinstance(argument, str) else argument
                known = {name: str(self.resolve(item)) for name, item in own.items()}

                def value_of(match: re.Match[str]) -> str:
                    name = match.group(1)
                    return known[name] if name in known else self._ref(name)

                return _SUB_VARIABLE.sub(value_of, text)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if function == "Fn::Split":
                delimiter, text = argument
                return str(self.resolve(text)).split(delimiter)
        if isinstance(value, dict | list):
            raise ValueError(f"cannot resolve {value!r} offline")
        return value

    def __post_init__(self) -> None:
        if not self.stack_uuid:
            uuid_text = stand_in_stack_uuid(self.stack_name, self.account_id, self.region)
            object.__setattr__(self, "stack_uuid", uuid_text)

    @property
    def stack_id(self) -> str:
        stack = f"{self.stack_name}/{self.stack_uuid}"
        return f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{stack}"

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameter(name)
        if name in self.resources:
            return self.physical_name(name)
        raise ValueError(f"cannot resolve a reference to {name!r} offline")

    def environment(self, function_id: str) -> dict[str, str]:
        """The variables Lambda would set for the function (Globals merged with its own)."""
        variables: dict[str, Any] = {}
        global_env = self.body.get("Globals", {}).get("Function", {}).get("Environment", {})
        variables.update(global_env.get("Variables", {}))
        variables.update(self.properties(function_id).get("Environment", {}).get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in variables.items()}

    def key_schema(self, table_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        properties = self.properties(table_id)
        return properties["KeySchema"], properties["AttributeDefinitions"]

    def hash_key(self, table_id: str) -> str:
        schema, _ = self.key_schema(table_id)
        return next(key["AttributeName"] for key in schema if key["KeyType"] == "HASH")

    def code_dir(self, function_id: str) -> Path:
        return self.path.parent / str(self.properties(function_id)["CodeUri"])

    def handler(self, function_id: str) -> tuple[str, str]:
        module, _, attribute = str(self.function_property(function_id, "Handler")).rpartition(".")
        return module, attribute


@cache
def project_template() -> Template:
    return Template.load()


class _NoManagedPolicies:
    """SAM looks managed policy names up in IAM; ours are all ARNs or policy templates."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: Template, parameter_values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template after the SAM transform, offline.

    Local CodeUri/ContentUri folders are swapped for `s3://` placeholders first (the
    translator only accepts S3 locations; `sam build`/`package` do that swap for real)."""
    from samtranslator.translator.transform import transform  # heavy import, only here

    body = copy.deepcopy(template.body)
    for resource in body["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str) and not properties[uri].startswith("s3://"):
                properties[uri] = f"s3://placeholder-bucket/{properties[uri].strip('/')}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", template.region)
    parameters = {"AWS::Region": template.region, "AWS::AccountId": template.account_id}
    parameters.update(parameter_values or {})
    return transform(body, parameters, _NoManagedPolicies())
