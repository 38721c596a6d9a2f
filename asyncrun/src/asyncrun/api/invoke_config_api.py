"""The five event-invoke-config operations of the Lambda API (Put, Update, Get, Delete,
List): their JSON bodies, checked as the service checks them, over the engine's configs."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from asyncrun.api.lambda_messages import ApiRequest, ApiResponse, paged_response
from asyncrun.errors import (
    InvalidParameterValueError,
    LambdaServiceError,
    ResourceNotFoundError,
    ValidationError,
)
from asyncrun.stack.model import LATEST, FunctionSpec, InvokeConfig, Stack
from asyncrun.stack.resolve import ResolvedFunction, parse_reference

if TYPE_CHECKING:
    from asyncrun.service.engine import Engine


_NOTHING_TO_CONFIGURE = "You must specify at least one of error handling or destination setting."


class _Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")
    Destination: str | None = None


class _DestinationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    OnSuccess: _Destination | None = None
    OnFailure: _Destination | None = None


class EventInvokeConfigInput(BaseModel):
    """The JSON body of Put/UpdateFunctionEventInvokeConfig."""

    model_config = ConfigDict(extra="forbid", strict=True)
    MaximumRetryAttempts: int | None = None
    MaximumEventAgeInSeconds: int | None = None
    DestinationConfig: _DestinationConfig | None = None

    def is_empty(self) -> bool:
        return (
            self.MaximumRetryAttempts is None
            and self.MaximumEventAgeInSeconds is None
            and (self.DestinationConfig is None)
        )

    def on_success(self) -> str | None:
        target = self.DestinationConfig and self.DestinationConfig.OnSuccess
        return (target.Destination or None) if target else None

    def on_failure(self) -> str | None:
        target = self.DestinationConfig and self.DestinationConfig.OnFailure
        return (target.Destination or None) if target else None


@dataclass
class ConfigMeta:
    """What the API reports about a config beyond the engine's dataclass: when it was
    last written and which integer members the caller set (unset ones are not echoed)."""

    last_modified: float
    explicit: frozenset[str] = frozenset({"MaximumRetryAttempts", "MaximumEventAgeInSeconds"})


class EventInvokeConfigOperations:
    """The event-invoke-config operations; `LambdaApi` sets the state and routes to them."""

    stack: Stack
    engine: Engine
    lock: threading.RLock
    _meta: dict[tuple[str, str], ConfigMeta]
    _now: Callable[[], float]
    resolve: Callable[[str, str | None], ResolvedFunction]

    def _config_input(self, request: ApiRequest) -> EventInvokeConfigInput:
        try:
            document = json.loads(request.body or b"{}")
            return EventInvokeConfigInput.model_validate(document)
        except (ValueError, PydanticValidationError) as exc:
            first = exc.errors()[0] if isinstance(exc, PydanticValidationError) else None
            where = ".".join(str(p) for p in first["loc"]) if first else "body"
            raise ValidationError.of(f"Value at '{where}' failed to satisfy constraint: {exc}") from None

    def _config_ref(self, request: ApiRequest, match: re.Match[str]) -> ResolvedFunction:
        """Put, Update and List name the function that must exist: the service then
        answers 'The function doesn't exist.' rather than 'Function not found'."""
        try:
            return self.resolve(match["fn"], request.query.get("Qualifier"))
        except LambdaServiceError as error:
            if error.code == "ResourceNotFoundException":
                raise ResourceNotFoundError("The function doesn't exist.") from None
            raise

    def put_config(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self._config_ref(request, match)
        body = self._config_input(request)
        if body.is_empty():
            raise InvalidParameterValueError(_NOTHING_TO_CONFIGURE)
        config = InvokeConfig(function_name=ref.spec.name, qualifier=ref.effective_qualifier)
        if body.MaximumRetryAttempts is not None:
            config.maximum_retry_attempts = body.MaximumRetryAttempts
        if body.MaximumEventAgeInSeconds is not None:
            config.maximum_event_age_seconds = body.MaximumEventAgeInSeconds
        config.on_success = body.on_success()
        config.on_failure = body.on_failure()
        explicit = frozenset(
            k for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if getattr(body, k) is not None
        )
        with self.lock:
            stored = self.engine.put_invoke_config(config)
            meta = self._meta[(ref.spec.name, ref.effective_qualifier)] = ConfigMeta(self._now(), explicit)
        return ApiResponse.json(200, self._config_document(ref.spec, stored, meta))

    def update_config(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self._config_ref(request, match)
        body = self._config_input(request)
        if body.is_empty():
            raise InvalidParameterValueError(_NOTHING_TO_CONFIGURE)
        changes: dict[str, Any] = {
            "maximum_retry_attempts": body.MaximumRetryAttempts,
            "maximum_event_age_seconds": body.MaximumEventAgeInSeconds,
        }
        if body.DestinationConfig is not None:
            # The destination config is replaced as a whole, like the other members.
            changes["on_success"] = body.on_success()
            changes["on_failure"] = body.on_failure()
        key = (ref.spec.name, ref.effective_qualifier)
        with self.lock:
            stored = self.engine.invoke_configs.update(ref.spec.name, ref.effective_qualifier, **changes)
            previous = self._meta_for(key)
            given = {
                k
                for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
                if getattr(body, k) is not None
            }
            meta = self._meta[key] = ConfigMeta(self._now(), previous.explicit | given)
        return ApiResponse.json(200, self._config_document(ref.spec, stored, meta))

    def get_config(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self._lenient_ref(request, match)
        with self.lock:
            stored = self.engine.invoke_configs.require(ref.spec.name, ref.effective_qualifier)
            meta = self._meta_for((ref.spec.name, ref.effective_qualifier))
        return ApiResponse.json(200, self._config_document(ref.spec, stored, meta))

    def delete_config(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self._lenient_ref(request, match)
        with self.lock:
            self.engine.invoke_configs.delete(ref.spec.name, ref.effective_qualifier)
            self._meta.pop((ref.spec.name, ref.effective_qualifier), None)
        return ApiResponse(204)

    def list_configs(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self._config_ref(request, match)
        with self.lock:
            configs = self.engine.invoke_configs.list(ref.spec.name)
            documents = [
                self._config_document(ref.spec, c, self._meta_for((ref.spec.name, c.qualifier)))
                for c in configs
            ]
        return paged_response(request, documents, "FunctionEventInvokeConfigs", most=50)

    def _lenient_ref(self, request: ApiRequest, match: re.Match[str]) -> ResolvedFunction:
        """Get and Delete report a missing function as a missing config."""
        try:
            return self.resolve(match["fn"], request.query.get("Qualifier"))
        except LambdaServiceError as error:
            if error.code != "ResourceNotFoundException":
                raise
            parsed = parse_reference(match["fn"])  # it parsed: only a missing function is left
            qualifier = request.query.get("Qualifier") or parsed.qualifier or LATEST
            raise ResourceNotFoundError.invoke_config(
                self.stack.function_arn(parsed.name, qualifier)
            ) from None

    def _meta_for(self, key: tuple[str, str]) -> ConfigMeta:
        # Configs from the template count as written when the API first reports them.
        return self._meta.setdefault(key, ConfigMeta(self._now()))

    @staticmethod
    def _config_document(spec: FunctionSpec, config: InvokeConfig, meta: ConfigMeta) -> dict[str, Any]:
        document: dict[str, Any] = {
            # botocore's `Date` shape: epoch seconds in a rest-json body.
            "LastModified": round(meta.last_modified, 3),
            "FunctionArn": f"{spec.arn}:{config.qualifier}",
        }
        if "MaximumRetryAttempts" in meta.explicit:
            document["MaximumRetryAttempts"] = config.maximum_retry_attempts
        if "MaximumEventAgeInSeconds" in meta.explicit:
            document["MaximumEventAgeInSeconds"] = config.maximum_event_age_seconds
        document["DestinationConfig"] = {
            "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
            "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
        }
        return document
