"""The Lambda API over the engine: the REST paths, headers, JSON shapes and errors of
botocore's `lambda` service model (2015-03-31, rest-json), for the operations that
asynchronous invocation needs — Invoke, the five event-invoke-config operations — and
the read-only function, version and alias operations that tools use to find things.

It is plain request -> response code with no server in it: `asyncrun.api.serve` feeds it
HTTP requests. The engine guards its own state; the lock here (the engine's) keeps a
few reads together. Functions are the stack's; versions and aliases are those the template
publishes (nothing here creates or deletes functions).

The event-invoke-config operations are in invoke_config_api.py, the request and response
shapes and what the operations share in lambda_messages.py."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from asyncrun.api.invoke_config_api import ConfigMeta, EventInvokeConfigOperations
from asyncrun.api.lambda_messages import ApiRequest, ApiResponse, error_response, paged_response
from asyncrun.errors import LambdaServiceError, ResourceNotFoundError, ServiceError
from asyncrun.service.limits import (
    EVENT_PAYLOAD_LIMIT,
    REQUEST_RESPONSE_PAYLOAD_LIMIT,
    event_too_large,
    request_too_large,
)
from asyncrun.stack.model import LATEST, FunctionSpec, Stack
from asyncrun.stack.resolve import ResolvedFunction, resolve_function

if TYPE_CHECKING:
    from asyncrun.service.engine import Engine

log = logging.getLogger(__name__)

Handler = Callable[[ApiRequest, "re.Match[str]"], ApiResponse]


class LambdaApi(EventInvokeConfigOperations):
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
        self._meta: dict[tuple[str, str], ConfigMeta] = {}
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
            response = error_response(error)
        except Exception as error:  # a bug here: answer as the service's own fault, and say where
            log.exception("asyncrun serve: %s %s failed", request.method, request.path)
            response = error_response(ServiceError(f"asyncrun failed: {error!r}"))
        response.headers.setdefault("X-Amzn-RequestId", request_id)
        return response

    def answer_functions(self) -> None:
        """Answer the event-invoke-config operations the functions' own code makes
        (through the loopback endpoint) too, so the engine sees what they configure."""
        self.engine.config_api = self._answer

    def _answer(
        self, method: str, path: str, query: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        response = self.handle(ApiRequest(method, path, query, {}, body))
        return None if response is None else (response.status, response.headers, response.body)

    # ------------------------------------------------------------------ references
    def resolve(self, reference: str, query_qualifier: str | None = None) -> ResolvedFunction:
        """A function by name, partial ARN or ARN, qualified in the name or by the
        `Qualifier` parameter, with the service's errors when it does not resolve."""
        return resolve_function(self.stack, reference, query_qualifier, by_logical_id=False)

    # ------------------------------------------------------------------ Invoke
    def invoke(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """The engine answers (the same path as a function's own invoke through the
        loopback endpoint), without this API's lock: a `RequestResponse` waits for its
        attempt, and the 202 of an `Event` never does."""
        invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        limit = EVENT_PAYLOAD_LIMIT if invocation_type == "Event" else REQUEST_RESPONSE_PAYLOAD_LIMIT
        if len(request.body) > limit:
            raise (
                event_too_large(len(request.body)) if invocation_type == "Event" else request_too_large(limit)
            )
        ref = self.resolve(match["fn"], request.query.get("Qualifier"))
        status, headers, body = self.engine.invoke(
            ref.spec.name,
            request.body,
            invocation_type=invocation_type,
            qualifier=ref.qualifier,
            log_type=request.headers.get("X-Amz-Log-Type"),
        )
        # An invoke can start events (an Event, S3 puts and async invokes by the code).
        self._on_queued()
        return ApiResponse(status, body, headers)

    # ------------------------------------------------------------------ functions, versions, aliases
    def list_functions(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        every_version = request.query.get("FunctionVersion") == "ALL"
        documents: list[dict[str, Any]] = []
        for spec in sorted(self.stack.functions.values(), key=lambda s: s.name):
            documents.append(self._configuration(ResolvedFunction(spec, None)))
            if every_version:
                documents.extend(self._configuration(ResolvedFunction(spec, v)) for v in spec.versions)
        return paged_response(request, documents, "Functions", most=10000)

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
        return paged_response(request, documents, "Versions", most=10000)

    def list_aliases(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        ref = self.resolve(match["fn"])
        wanted_version = request.query.get("FunctionVersion")
        documents = [
            self._alias(ref.spec, alias)
            for alias, version in sorted(ref.spec.aliases.items())
            if wanted_version is None or version == wanted_version
        ]
        return paged_response(request, documents, "Aliases", most=10000)

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
