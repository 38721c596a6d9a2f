"""The Lambda API over the engine: the REST paths, headers, JSON shapes and errors of
botocore's `lambda` service model (2015-03-31, rest-json), for the operations that
asynchronous invocation needs — Invoke, the five event-invoke-config operations — and
the read-only function, version and alias operations that tools use to find things.

It is plain request -> response code with no server in it: `asyncrun.api.serve` feeds it
HTTP requests. Every engine call happens under the caller's lock: the engine is not
thread-safe. Functions are the stack's; versions and aliases are those the template
publishes (nothing here creates or deletes functions)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from asyncrun.errors import (
    InvalidParameterValueError,
    LambdaServiceError,
    ResourceNotFoundError,
    ServiceError,
    ValidationError,
)
from asyncrun.service.limits import (
    EVENT_PAYLOAD_LIMIT,
    REQUEST_RESPONSE_PAYLOAD_LIMIT,
    event_too_large,
    request_too_large,
)
from asyncrun.service.logs import tail
from asyncrun.stack.model import LATEST, FunctionSpec, InvokeConfig, Stack
from asyncrun.stack.resolve import ResolvedFunction, parse_reference, resolve_function

if TYPE_CHECKING:
    from asyncrun.service.engine import Engine

log = logging.getLogger(__name__)

INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
_NOTHING_TO_CONFIGURE = "You must specify at least one of error handling or destination setting."


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # percent-decoded, as WSGI's PATH_INFO
    query: Mapping[str, str]
    headers: Mapping[str, str]  # looked up case-insensitively by the caller's mapping
    body: bytes = b""


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any) -> ApiResponse:
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


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
class _ConfigMeta:
    """What the API reports about a config beyond the engine's dataclass: when it was
    last written and which integer members the caller set (unset ones are not echoed)."""

    last_modified: float
    explicit: frozenset[str] = frozenset({"MaximumRetryAttempts", "MaximumEventAgeInSeconds"})


Handler = Callable[[ApiRequest, "re.Match[str]"], ApiResponse]


class LambdaApi:
    def __init__(
        self,
        stack: Stack,
        engine: Engine,
        *,
        lock: threading.RLock,
        on_queued: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
        roles: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self._roles = dict(roles or {})  # function name -> execution role ARN, as provisioned
        self.engine = engine
        self.lock = lock
        self._on_queued = on_queued  # wakes the queue's runner
        self._now = now
        self._meta: dict[tuple[str, str], _ConfigMeta] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/invocations/?"), self.invoke),
            ("GET", re.compile(r"/2015-03-31/functions/?"), self.list_functions),
            ("GET", re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/?"), self.get_function),
            (
                "GET",
                re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/configuration/?"),
                self.get_configuration,
            ),
            ("GET", re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/versions/?"), self.list_versions),
            ("GET", re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases/?"), self.list_aliases),
            (
                "GET",
                re.compile(r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases/(?P<alias>[^/]+)/?"),
                self.get_alias,
            ),
            (
                "PUT",
                re.compile(r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config/?"),
                self.put_config,
            ),
            (
                "POST",
                re.compile(r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config/?"),
                self.update_config,
            ),
            (
                "GET",
                re.compile(r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config/?"),
                self.get_config,
            ),
            (
                "DELETE",
                re.compile(r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config/?"),
                self.delete_config,
            ),
            (
                "GET",
                re.compile(r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config/list/?"),
                self.list_configs,
            ),
        ]

    # ------------------------------------------------------------------ dispatch
    def route(self, method: str, path: str) -> tuple[Handler, re.Match[str]] | None:
        """The handler for a request, or None for a Lambda path this API leaves to moto
        (tags, policies, layers, ...)."""
        for route_method, pattern, handler in self._routes:
            if route_method == method and (match := pattern.fullmatch(path)):
                return handler, match
        return None

    def handle(self, request: ApiRequest) -> ApiResponse | None:
        routed = self.route(request.method, request.path)
        if routed is None:
            return None
        handler, match = routed
        request_id = str(uuid.uuid4())
        try:
            response = handler(request, match)
        except LambdaServiceError as error:
            response = _error_response(error)
        except Exception as error:  # a bug here: answer as the service's own fault, and say where
            log.exception("asyncrun serve: %s %s failed", request.method, request.path)
            response = _error_response(ServiceError(f"asyncrun failed: {error!r}"))
        response.headers.setdefault("X-Amzn-RequestId", request_id)
        return response

    # ------------------------------------------------------------------ references
    def resolve(self, reference: str, query_qualifier: str | None = None) -> ResolvedFunction:
        """A function by name, partial ARN or ARN, qualified in the name or by the
        `Qualifier` parameter, with the service's errors when it does not resolve."""
        return resolve_function(self.stack, reference, query_qualifier, by_logical_id=False)

    # ------------------------------------------------------------------ Invoke
    def invoke(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in INVOCATION_TYPES:
            raise ValidationError.of(
                f"Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [RequestResponse, Event, DryRun]"
            )
        ref = self.resolve(match["fn"], request.query.get("Qualifier"))
        if invocation_type == "DryRun":
            return ApiResponse(204)
        if invocation_type == "Event":
            return self._invoke_event(ref, request.body)
        return self._invoke_request_response(ref, request)

    def _invoke_event(self, ref: ResolvedFunction, payload: bytes) -> ApiResponse:
        if len(payload) > EVENT_PAYLOAD_LIMIT:
            raise event_too_large(len(payload))
        # Without the lock: the 202 never waits for an attempt the engine is running.
        request_id = self.engine.receive_async(ref.spec.name, payload, qualifier=ref.qualifier)
        self._on_queued()
        # No ExecutedVersion for an event (docs/async-semantics.md R1.1); the request id is the one
        # the function will see.
        return ApiResponse(202, b"", {"X-Amzn-RequestId": request_id})

    def _invoke_request_response(self, ref: ResolvedFunction, request: ApiRequest) -> ApiResponse:
        if len(request.body) > REQUEST_RESPONSE_PAYLOAD_LIMIT:
            raise request_too_large(REQUEST_RESPONSE_PAYLOAD_LIMIT)
        with self.lock:
            result = self.engine.invoke_sync(ref.spec.name, request.body, qualifier=ref.qualifier)
        # A synchronous invoke can start events (S3 puts, async invokes by the code).
        self._on_queued()
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": result.executed_version,
            "X-Amzn-RequestId": result.request_id,
        }
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if (request.headers.get("X-Amz-Log-Type") or "None") == "Tail":
            headers["X-Amz-Log-Result"] = tail(result.logs)
        return ApiResponse(result.status_code, result.payload, headers)

    # ------------------------------------------------------------------ event invoke config
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
            meta = self._meta[(ref.spec.name, ref.effective_qualifier)] = _ConfigMeta(self._now(), explicit)
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
            meta = self._meta[key] = _ConfigMeta(self._now(), previous.explicit | given)
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
        max_items = _int_query(request, "MaxItems", low=1, high=50, member="maxItems")
        page, next_marker = _paginate(documents, request.query.get("Marker"), max_items or 50)
        body: dict[str, Any] = {"FunctionEventInvokeConfigs": page}
        if next_marker:
            body["NextMarker"] = next_marker
        return ApiResponse.json(200, body)

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

    def _meta_for(self, key: tuple[str, str]) -> _ConfigMeta:
        # Configs from the template count as written when the API first reports them.
        return self._meta.setdefault(key, _ConfigMeta(self._now()))

    @staticmethod
    def _config_document(spec: FunctionSpec, config: InvokeConfig, meta: _ConfigMeta) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ functions, versions, aliases
    def list_functions(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        every_version = request.query.get("FunctionVersion") == "ALL"
        documents: list[dict[str, Any]] = []
        for spec in sorted(self.stack.functions.values(), key=lambda s: s.name):
            documents.append(self._configuration(ResolvedFunction(spec, None)))
            if every_version:
                documents.extend(self._configuration(ResolvedFunction(spec, v)) for v in spec.versions)
        max_items = _int_query(request, "MaxItems", low=1, high=10000, member="maxItems")
        page, next_marker = _paginate(documents, request.query.get("Marker"), max_items or 50)
        body: dict[str, Any] = {"Functions": page}
        if next_marker:
            body["NextMarker"] = next_marker
        return ApiResponse.json(200, body)

    def get_function(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"], request.query.get("Qualifier"))
        document: dict[str, Any] = {
            "Configuration": self._configuration(ref),
            # The code runs from the template's folder; there is no package to download.
            "Code": {"RepositoryType": "S3", "Location": ref.spec.code_dir.resolve().as_uri()},
        }
        if ref.spec.reserved_concurrency is not None:
            document["Concurrency"] = {"ReservedConcurrentExecutions": ref.spec.reserved_concurrency}
        return ApiResponse.json(200, document)

    def get_configuration(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"], request.query.get("Qualifier"))
        return ApiResponse.json(200, self._configuration(ref))

    def list_versions(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"])
        spec = ref.spec
        documents = [self._configuration(ResolvedFunction(spec, LATEST))]
        documents.extend(self._configuration(ResolvedFunction(spec, v)) for v in spec.versions)
        max_items = _int_query(request, "MaxItems", low=1, high=10000, member="maxItems")
        page, next_marker = _paginate(documents, request.query.get("Marker"), max_items or 50)
        body: dict[str, Any] = {"Versions": page}
        if next_marker:
            body["NextMarker"] = next_marker
        return ApiResponse.json(200, body)

    def list_aliases(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"])
        wanted_version = request.query.get("FunctionVersion")
        documents = [
            self._alias(ref.spec, alias)
            for alias, version in sorted(ref.spec.aliases.items())
            if wanted_version is None or version == wanted_version
        ]
        max_items = _int_query(request, "MaxItems", low=1, high=10000, member="maxItems")
        page, next_marker = _paginate(documents, request.query.get("Marker"), max_items or 50)
        body: dict[str, Any] = {"Aliases": page}
        if next_marker:
            body["NextMarker"] = next_marker
        return ApiResponse.json(200, body)

    def get_alias(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"])
        alias = match["alias"]
        if alias not in ref.spec.aliases:
            raise ResourceNotFoundError(f"Cannot find alias arn: {ref.spec.arn}:{alias}")
        return ApiResponse.json(200, self._alias(ref.spec, alias))

    def _alias(self, spec: FunctionSpec, alias: str) -> dict[str, Any]:
        version = spec.aliases[alias]
        return {
            "AliasArn": f"{spec.arn}:{alias}",
            "Name": alias,
            "FunctionVersion": version,
            "Description": "",
            "RevisionId": _revision(spec, f"alias:{alias}:{version}"),
        }

    def _configuration(self, ref: ResolvedFunction) -> dict[str, Any]:
        """`FunctionConfiguration` as the service returns it for $LATEST, a version or
        an alias (an alias reports the version it points to, under the alias's ARN)."""
        spec = ref.spec
        document: dict[str, Any] = {
            "FunctionName": spec.name,
            "FunctionArn": ref.invoked_arn,
            "Runtime": spec.runtime,
            "Role": self._roles.get(spec.name) or f"arn:aws:iam::{self.stack.account_id}:role/{spec.name}",
            "Handler": spec.handler,
            "CodeSize": _code_digest(spec)[1],
            "Description": "",
            "Timeout": spec.timeout,
            "MemorySize": spec.memory_size,
            "LastModified": _code_timestamp(spec),
            "CodeSha256": _code_digest(spec)[0],
            "Version": ref.version,
            "Environment": {"Variables": dict(spec.environment)},
            "RevisionId": _revision(spec, ref.version),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(spec.architectures),
            "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogGroup": spec.log_group or f"/aws/lambda/{spec.name}"},
        }
        if spec.dead_letter_target_arn:
            document["DeadLetterConfig"] = {"TargetArn": spec.dead_letter_target_arn}
        return document


# ---------------------------------------------------------------------- helpers
def _int_query(request: ApiRequest, name: str, *, low: int, high: int, member: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError.of(
            f"Value '{raw}' at '{member}' failed to satisfy constraint: Member must be a number"
        ) from None
    prefix = f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value"
    if value < low:
        raise ValidationError.of(f"{prefix} greater than or equal to {low}")
    if value > high:
        raise ValidationError.of(f"{prefix} less than or equal to {high}")
    return value


def _paginate(
    items: list[dict[str, Any]], marker: str | None, max_items: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page and the opaque marker of the next one (here: the next index)."""
    try:
        start = int(marker) if marker else 0
    except ValueError:
        raise InvalidParameterValueError(f"Invalid marker: {marker}") from None
    end = start + max_items
    return items[start:end], (str(end) if end < len(items) else None)


@cache
def _code_digest_cached(code_dir: str) -> tuple[str, int]:
    from pathlib import Path

    digest = hashlib.sha256()
    size = 0
    root = Path(code_dir)
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            data = path.read_bytes()
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + data)
            size += len(data)
    return b64encode(digest.digest()).decode(), size


def _code_digest(spec: FunctionSpec) -> tuple[str, int]:
    """A stable CodeSha256 and CodeSize from the function's folder (there is no zip)."""
    return _code_digest_cached(str(spec.code_dir))


def _code_timestamp(spec: FunctionSpec) -> str:
    """LastModified of a function configuration: ISO 8601 with milliseconds and an offset."""
    from datetime import UTC, datetime

    try:
        mtime = max((p.stat().st_mtime for p in spec.code_dir.rglob("*.py")), default=time.time())
    except OSError:
        mtime = time.time()
    moment = datetime.fromtimestamp(mtime, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _revision(spec: FunctionSpec, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.arn}|{salt}|{_code_digest(spec)[0]}"))


def _error_response(error: LambdaServiceError) -> ApiResponse:
    response = ApiResponse.json(error.status, error.body())
    response.headers["X-Amzn-ErrorType"] = error.code
    return response
