"""Event invoke configuration (`EventInvokeConfig`): validation with the service's
messages, and the store, one config per (function, qualifier).

On AWS a config belongs to one qualifier: `$LATEST`, a version or an alias. An
unqualified invoke uses `$LATEST`'s; an invoke through an alias uses the alias's and,
when the alias has none, the defaults (**unverified**: no fallback to `$LATEST`'s
config was assumed, as the API keeps them separate)."""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from typing import Any

from asyncrun.errors import DestinationConfigError, LambdaServiceError, ResourceNotFoundError, ValidationError
from asyncrun.stack.model import LATEST, FunctionReference, FunctionSpec, InvokeConfig, Stack
from asyncrun.stack.resolve import find_function, resolve_function

RETRY_RANGE = (0, 2)
AGE_RANGE = (60, 21600)
DESTINATION_SERVICES = ("sqs", "sns", "lambda", "events", "s3")
_UNSET: Any = object()


@cache
def destination_arn_pattern() -> str:
    """The pattern the service checks a destination ARN against (botocore's model)."""
    import botocore.session  # late: only needed when validating

    model = botocore.session.get_session().get_service_model("lambda")
    return str(model.shape_for("DestinationArn").metadata["pattern"])


def arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _range_errors(config: InvokeConfig) -> list[str]:
    errors: list[str] = []
    for member, value, (low, high) in (
        ("maximumRetryAttempts", config.maximum_retry_attempts, RETRY_RANGE),
        ("maximumEventAgeInSeconds", config.maximum_event_age_seconds, AGE_RANGE),
    ):
        if value > high:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )
        elif value < low:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
    for member, arn in (
        ("destinationConfig.onSuccess.destination", config.on_success),
        ("destinationConfig.onFailure.destination", config.on_failure),
    ):
        if arn is not None and not re.fullmatch(destination_arn_pattern(), arn):
            errors.append(
                f"Value '{arn}' at '{member}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {destination_arn_pattern()}"
            )
    return errors


def _destination_config_text(config: InvokeConfig) -> str:
    on_success = f"OnSuccess(destination={config.on_success})" if config.on_success else "null"
    on_failure = f"OnFailure(destination={config.on_failure})" if config.on_failure else "null"
    return f"DestinationConfig(onSuccess={on_success}, onFailure={on_failure})"


def _lambda_destination_exists(stack: Stack, arn: str) -> bool:
    parts = arn.split(":")
    if len(parts) < 7 or parts[5] != "function":  # a destination is a whole ARN
        return False
    try:
        resolve_function(stack, arn)
    except LambdaServiceError:
        return False
    return True


def validate_invoke_config(config: InvokeConfig, stack: Stack) -> None:
    """Raise the service's error for a config it would refuse; return when valid."""
    function = function_for_config(config, stack)
    errors = _range_errors(config)
    if errors:
        raise ValidationError.of(*errors)
    shape_ok = True
    for slot, arn in (("on_success", config.on_success), ("on_failure", config.on_failure)):
        if not arn:
            continue
        service = arn_service(arn)
        if service not in DESTINATION_SERVICES or (service == "s3" and slot == "on_success"):
            shape_ok = False
        elif service == "lambda":
            named = FunctionReference.parse(arn)
            if named is not None and named.name == function.name:
                raise DestinationConfigError("You can't specify the function as a destination for itself.")
            if not _lambda_destination_exists(stack, arn):
                raise DestinationConfigError(f"The destination ARN {arn} is invalid.")
    if not shape_ok:
        raise DestinationConfigError(
            f"The provided destination config {_destination_config_text(config)} is invalid."
        )


def function_for_config(config: InvokeConfig, stack: Stack) -> FunctionSpec:
    return resolve_function(stack, config.function_name, config.qualifier).spec


class InvokeConfigStore:
    """Event invoke configs by (function name, qualifier), with the API's operations:
    put replaces, update merges the members given, get/list/delete."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._configs: dict[tuple[str, str], InvokeConfig] = {}

    def _key(self, function: str, qualifier: str | None) -> tuple[str, str]:
        spec, ref_qualifier = self._find(function)
        return spec.name, qualifier or ref_qualifier or LATEST

    def _find(self, function: str) -> tuple[FunctionSpec, str | None]:
        return find_function(self._stack, function)

    def put(self, config: InvokeConfig) -> InvokeConfig:
        spec, _ = self._find(config.function_name)
        config = dataclasses.replace(config, function_name=spec.name)
        validate_invoke_config(config, self._stack)
        self._configs[(spec.name, config.qualifier)] = config
        return config

    def update(
        self,
        function: str,
        qualifier: str | None = None,
        *,
        maximum_retry_attempts: int | None = None,
        maximum_event_age_seconds: int | None = None,
        on_success: str | None = _UNSET,
        on_failure: str | None = _UNSET,
    ) -> InvokeConfig:
        key = self._key(function, qualifier)
        current = self._configs.get(key)
        if current is None:
            raise self._missing(key)
        changes: dict[str, Any] = {}
        if maximum_retry_attempts is not None:
            changes["maximum_retry_attempts"] = maximum_retry_attempts
        if maximum_event_age_seconds is not None:
            changes["maximum_event_age_seconds"] = maximum_event_age_seconds
        if on_success is not _UNSET:
            changes["on_success"] = on_success
        if on_failure is not _UNSET:
            changes["on_failure"] = on_failure
        updated = dataclasses.replace(current, **changes)
        validate_invoke_config(updated, self._stack)
        self._configs[key] = updated
        return updated

    def get(self, function: str, qualifier: str | None = None) -> InvokeConfig | None:
        return self._configs.get(self._key(function, qualifier))

    def require(self, function: str, qualifier: str | None = None) -> InvokeConfig:
        key = self._key(function, qualifier)
        config = self._configs.get(key)
        if config is None:
            raise self._missing(key)
        return config

    def list(self, function: str) -> list[InvokeConfig]:
        spec, _ = self._find(function)
        return [c for (name, _q), c in self._configs.items() if name == spec.name]

    def delete(self, function: str, qualifier: str | None = None) -> None:
        key = self._key(function, qualifier)
        if self._configs.pop(key, None) is None:
            raise self._missing(key)

    def for_event(self, function: FunctionSpec, qualifier: str) -> InvokeConfig:
        """The config an event invoked through `qualifier` runs under (defaults when none)."""
        return self._configs.get((function.name, qualifier)) or InvokeConfig(function.name, qualifier)

    def _missing(self, key: tuple[str, str]) -> ResourceNotFoundError:
        spec, _ = self._find(key[0])
        return ResourceNotFoundError.invoke_config(f"{spec.arn}:{key[1]}")
