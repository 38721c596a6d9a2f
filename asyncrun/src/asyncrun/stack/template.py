"""Reads a SAM (or plain CloudFormation) template the way SAM and CloudFormation would
deploy it, and produces the resolved `Stack`: parameters from defaults, samconfig and
overrides; the SAM transform run offline; conditions applied; names, ARNs and
properties resolved to concrete values.

The entry point: `load_stack`. The steps live in `parameters` (values and pseudo
parameters), `transform` (the SAM transform, offline), `names` (physical names, ARNs,
`Ref` and `Fn::GetAtt`) and `builder` (the resolved stack)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asyncrun.stack.builder import StackBuilder
from asyncrun.stack.intrinsics import TemplateError
from asyncrun.stack.model import DEFAULT_ACCOUNT_ID, Stack
from asyncrun.stack.names import generated_name
from asyncrun.stack.parameters import pseudo_parameters, resolve_parameters
from asyncrun.stack.samconfig import read_samconfig
from asyncrun.stack.transform import translate, uses_sam_transform

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_STACK_NAME",
    "TemplateError",
    "generated_name",
    "load_stack",
    "read_template",
    "resolve_parameters",
]

DEFAULT_STACK_NAME = "sam-app"  # what `sam deploy --guided` proposes
DEFAULT_REGION = "us-east-1"


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
    pseudo = pseudo_parameters(stack_name, region, account_id)
    code_paths: dict[str, str] = {}
    if uses_sam_transform(document):
        document = translate(document, {**parameters, **pseudo}, region, code_paths)
    return StackBuilder(
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
