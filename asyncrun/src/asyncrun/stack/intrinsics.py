"""CloudFormation intrinsic functions and conditions, resolved the way CloudFormation
does at deploy time, but locally: parameters and pseudo parameters come from the
caller, resources are asked for their physical ids and attributes through a
`ResourceResolver`. Resolution is lazy (only what the runner needs is resolved), so a
template may hold intrinsics asyncrun never has to understand (in IAM policies, say)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from asyncrun.errors import TemplateError


class _NoValue:
    """`AWS::NoValue`: the property (or list item) it stands for is removed."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class ResourceResolver(Protocol):
    def has_resource(self, logical_id: str) -> bool: ...

    def ref(self, logical_id: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...


def scalar_text(value: Any, where: str) -> str:
    """A resolved scalar as CloudFormation turns it into text (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object " + json.dumps(value, default=str)[:80]
    return repr(value)


class Intrinsics:
    """Resolves a template fragment. Every failure is a `TemplateError` carrying the path
    of the fragment (`Resources.Fn.Properties.Environment...`)."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        resources: ResourceResolver,
        region: str,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo
        self._conditions = conditions
        self._mappings = mappings
        self._resources = resources
        self._region = region
        self._condition_values: dict[str, bool] = {}
        self._active: list[str] = []  # what is being resolved right now, for cycle detection
        self._functions: dict[str, Callable[[Any, str], Any]] = {
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::If": self._if,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::GetAZs": self._get_azs,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::GetAtt": self._get_att,
            "Fn::ImportValue": self._import_value,
            "Fn::ToJsonString": self._to_json_string,
            "Fn::Length": self._length,
            "Fn::Equals": lambda args, path: self._evaluate({"Fn::Equals": args}, path),
            "Fn::Not": lambda args, path: self._evaluate({"Fn::Not": args}, path),
            "Fn::And": lambda args, path: self._evaluate({"Fn::And": args}, path),
            "Fn::Or": lambda args, path: self._evaluate({"Fn::Or": args}, path),
        }

    # ------------------------------------------------------------------ cycles
    @contextmanager
    def guard(self, key: str) -> Iterator[None]:
        """Marks `key` (a resource or condition) as being resolved; meeting it again
        before it is done is a circular reference."""
        if key in self._active:
            chain = [*self._active[self._active.index(key) :], key]
            raise TemplateError("circular reference: " + " -> ".join(chain))
        self._active.append(key)
        try:
            yield
        finally:
            self._active.pop()

    # ------------------------------------------------------------------ values
    def resolve(self, value: Any, path: str) -> Any:
        """`value` with every intrinsic replaced by its result; `NO_VALUE` when the whole
        value is `AWS::NoValue`."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key == "Ref":
                    return self._ref(argument, path)
                if key.startswith("Fn::"):
                    function = self._functions.get(key)
                    if function is None:
                        raise TemplateError(f"{path}: {key} is not supported locally")
                    return function(argument, f"{path}.{key}")
            resolved = {}
            for key, item in value.items():
                item_value = self.resolve(item, f"{path}.{key}")
                if item_value is not NO_VALUE:
                    resolved[key] = item_value
            return resolved
        if isinstance(value, list):
            items = (self.resolve(item, f"{path}[{index}]") for index, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def resolve_text(self, value: Any, path: str) -> str:
        return scalar_text(self.resolve(value, path), path)

    def _ref(self, name: Any, path: str) -> Any:
        name = self.resolve(name, path) if isinstance(name, dict) else name
        if not isinstance(name, str):
            raise TemplateError(f"{path}: Ref needs a name, got {_describe(name)}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name.startswith("AWS::"):
            raise TemplateError(f"{path}: unknown pseudo parameter {name}")
        if name in self._parameters:
            return self._parameters[name]
        if self._resources.has_resource(name):
            return self._resources.ref(name)
        raise TemplateError(f"{path}: Ref to {name!r}, which is neither a parameter nor a resource")

    def _get_att(self, argument: Any, path: str) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical_id = self.resolve_text(argument[0], path)
            attribute = self.resolve_text(argument[1], path)
        else:
            raise TemplateError(f"{path}: expected [LogicalId, Attribute], got {_describe(argument)}")
        if not logical_id or not attribute:
            raise TemplateError(f"{path}: expected LogicalId.Attribute, got {argument!r}")
        if not self._resources.has_resource(logical_id):
            raise TemplateError(f"{path}: Fn::GetAtt of {logical_id!r}, which is not a resource")
        return self._resources.get_att(logical_id, attribute)

    def _sub(self, argument: Any, path: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise TemplateError(f"{path}: expected a string or [string, {{variables}}]")
            text, raw_variables = argument
            variables = {name: self.resolve(item, f"{path}.{name}") for name, item in raw_variables.items()}
        else:
            text = argument
        if not isinstance(text, str):
            raise TemplateError(f"{path}: expected a string, got {_describe(text)}")

        def substitute(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):  # ${!Literal} stands for the text ${Literal}
                return "${" + inner[1:] + "}"
            name = inner.strip()
            if name in variables:
                return scalar_text(variables[name], f"{path} ${{{name}}}")
            if "." in name and name not in self._pseudo:
                logical_id, _, attribute = name.partition(".")
                if not self._resources.has_resource(logical_id):
                    raise TemplateError(f"{path}: ${{{name}}} names no resource {logical_id!r}")
                return scalar_text(self._resources.get_att(logical_id, attribute), f"{path} ${{{name}}}")
            return scalar_text(self._ref(name, path), f"{path} ${{{name}}}")

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, argument: Any, path: str) -> str:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{path}: expected [delimiter, [values]]")
        delimiter = self.resolve_text(argument[0], path)
        items = self._list(argument[1], path)
        return delimiter.join(scalar_text(item, path) for item in items)

    def _if(self, argument: Any, path: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 3 or not isinstance(argument[0], str):
            raise TemplateError(f"{path}: expected [ConditionName, value_if_true, value_if_false]")
        chosen = argument[1] if self.condition(argument[0], path) else argument[2]
        return self.resolve(chosen, path)

    def _select(self, argument: Any, path: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{path}: expected [index, [values]]")
        index_text = self.resolve_text(argument[0], path)
        items = self._list(argument[1], path)
        try:
            return items[int(index_text)]
        except (ValueError, IndexError):
            raise TemplateError(f"{path}: index {index_text} is outside a list of {len(items)}") from None

    def _split(self, argument: Any, path: str) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{path}: expected [delimiter, string]")
        delimiter = self.resolve_text(argument[0], path)
        if not delimiter:
            raise TemplateError(f"{path}: the delimiter is empty")
        return self.resolve_text(argument[1], path).split(delimiter)

    def _get_azs(self, argument: Any, path: str) -> list[str]:
        region = self.resolve(argument, path) or self._region
        return [f"{region}{zone}" for zone in "abc"]

    def _find_in_map(self, argument: Any, path: str) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise TemplateError(f"{path}: expected [MapName, TopLevelKey, SecondLevelKey]")
        names = [self.resolve_text(item, path) for item in argument[:3]]
        found: Any = self._mappings
        for name in names:
            if not isinstance(found, dict) or name not in found:
                if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
                    return self.resolve(argument[3]["DefaultValue"], path)
                raise TemplateError(f"{path}: Mappings has no {'.'.join(names)}")
            found = found[name]
        return self.resolve(found, path)

    def _base64(self, argument: Any, path: str) -> str:
        return base64.b64encode(self.resolve_text(argument, path).encode()).decode()

    def _import_value(self, argument: Any, path: str) -> Any:
        raise TemplateError(f"{path}: Fn::ImportValue reads another stack's exports; not supported locally")

    def _to_json_string(self, argument: Any, path: str) -> str:
        return json.dumps(self.resolve(argument, path), separators=(",", ":"))

    def _length(self, argument: Any, path: str) -> int:
        return len(self._list(argument, path))

    def _list(self, value: Any, path: str) -> list[Any]:
        resolved = self.resolve(value, path)
        if not isinstance(resolved, list):
            raise TemplateError(f"{path}: expected a list, got {_describe(resolved)}")
        return resolved

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str, path: str = "Conditions") -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"{path}: no condition named {name!r}")
            with self.guard(f"Conditions.{name}"):
                self._condition_values[name] = self._evaluate(self._conditions[name], f"Conditions.{name}")
        return self._condition_values[name]

    def _evaluate(self, expression: Any, path: str) -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str) and expression.lower() in ("true", "false"):
            return expression.lower() == "true"
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateError(f"{path}: expected a condition function, got {_describe(expression)}")
        (function, argument), *_ = expression.items()
        here = f"{path}.{function}"
        if function == "Condition":
            if not isinstance(argument, str):
                raise TemplateError(f"{here}: expected a condition name")
            return self.condition(argument, here)
        if function == "Fn::Equals":
            if not isinstance(argument, list) or len(argument) != 2:
                raise TemplateError(f"{here}: expected [value, value]")
            left, right = (self._comparable(self.resolve(item, here), here) for item in argument)
            return left == right
        if not isinstance(argument, list):
            raise TemplateError(f"{here}: expected a list of conditions")
        if function == "Fn::Not":
            if len(argument) != 1:
                raise TemplateError(f"{here}: expected exactly one condition")
            return not self._evaluate(argument[0], here)
        if function == "Fn::And":
            return all(self._evaluate(item, here) for item in argument)
        if function == "Fn::Or":
            return any(self._evaluate(item, here) for item in argument)
        raise TemplateError(f"{here}: {function} is not a condition function")

    @staticmethod
    def _comparable(value: Any, path: str) -> Any:
        # CloudFormation compares the text of scalars: !Equals [!Ref Retries, 2] holds for "2".
        if isinstance(value, list):
            return [scalar_text(item, path) for item in value]
        return scalar_text(value, path)
