"""Template parameters: each one's value from the overrides or its default, checked
against its constraints as CloudFormation checks them, and the pseudo parameters."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from asyncrun.stack.intrinsics import TemplateError, scalar_text


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


def pseudo_parameters(stack_name: str, region: str, account_id: str) -> dict[str, Any]:
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
