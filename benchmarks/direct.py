"""The pipeline's handlers called directly, one after another, as the baselines call
them: no runner, no queue, the same moto. Events are built as S3 and Lambda build them
(S3 notification, then each stage's Success record)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncrun.runtimes.context import LambdaContext

# The runner's own way of switching environments, so that both sides pay the same for it.
from asyncrun.runtimes.inprocess import ThreadExecutor, layer_python_root
from asyncrun.runtimes.inprocess import _environment as _environment
from asyncrun.service.records import build_record
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import FunctionSpec, Stack

STAGES = ("UploadFunction", "ProcessFunction", "AuditFunction")
Handler = Callable[[Any, Any], Any]


def orders_csv(target_bytes: int, *, start: int = 0) -> bytes:
    """A CSV batch of valid orders of about `target_bytes` (about 46 bytes a row)."""
    header = b"order_id,customer_id,sku,quantity,unit_price,currency\n"
    row = b"ORD-%08d,CUST-%05d,SKU-%04d,%d,%d.%02d,%s\n"
    lines, size, n = [header], len(header), start
    while size < target_bytes:
        line = row % (n, n % 9973, n % 977, 1 + n % 9, n % 500, n % 100, b"EUR" if n % 3 else b"USD")
        lines.append(line)
        size += len(line)
        n += 1
    return b"".join(lines)


@dataclass
class Pipeline:
    """The stack's three handlers, loaded once with their layers on the path, each called
    with its own environment and a Lambda context of its `live` alias."""

    stack: Stack
    endpoint: Endpoint
    handlers: dict[str, Handler]
    environments: dict[str, dict[str, str]]

    @classmethod
    def load(cls, stack: Stack, endpoint: Endpoint) -> Pipeline:
        executor = ThreadExecutor(endpoint, region=stack.region)
        handlers, environments = {}, {}
        for logical_id in STAGES:
            function = stack.functions[logical_id]
            environments[logical_id] = executor.environment(function, "1")
            with _environment(environments[logical_id]):
                handlers[logical_id] = _load(function)
        return cls(stack, endpoint, handlers, environments)

    def call(self, logical_id: str, event: Any) -> tuple[Any, str]:
        """The handler's answer and the invocation's request id."""
        answer, request_id, _ = self.timed_call(logical_id, event)
        return answer, request_id

    def timed_call(self, logical_id: str, event: Any) -> tuple[Any, str, float]:
        """The handler's answer, the request id, and the seconds the handler took: the
        switch to the function's environment variables, which Lambda never makes between
        invokes, is left out."""
        function = self.stack.functions[logical_id]
        context = context_for(function)
        with _environment(self.environments[logical_id]):
            started = time.perf_counter()
            answer = self.handlers[logical_id](event, context)
            return answer, context.aws_request_id, time.perf_counter() - started

    def upload_bucket(self) -> str:
        return next(b for b in self.stack.buckets.values() if b.notifications).name

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """Puts the object and returns the S3 notification Lambda would receive for it."""
        bucket = self.upload_bucket()
        response = self.endpoint.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        return s3_event(bucket, key, len(body), response["ETag"].strip('"'), response.get("VersionId"))

    def through(self, event: Any, timings: dict[str, list[float]] | None = None) -> Any:
        """The three stages one after another, each fed the previous one's Success record."""
        for logical_id in STAGES:
            answer, request_id, seconds = self.timed_call(logical_id, event)
            if timings is not None:
                timings.setdefault(logical_id, []).append(seconds)
            event = success_record(self.stack.functions[logical_id], event, answer, request_id)
        return answer


def context_for(function: FunctionSpec) -> LambdaContext:
    return LambdaContext(
        function_name=function.name,
        function_version="1",
        invoked_function_arn=f"{function.arn}:live",
        memory_limit_in_mb=str(function.memory_size),
        aws_request_id=str(uuid.uuid4()),
        timeout_seconds=function.timeout,
    )


def s3_event(bucket: str, key: str, size: int, etag: str, version_id: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key.replace(" ", "+"), "size": size, "eTag": etag}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-12-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "bench",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


def success_record(function: FunctionSpec, event: Any, answer: Any, request_id: str) -> dict[str, Any]:
    return build_record(
        timestamp=time.time(),
        request_id=request_id,
        function_arn=f"{function.arn}:live",
        condition="Success",
        approximate_invoke_count=1,
        request_payload=json.dumps(event).encode(),
        executed_version="1",
        response_payload=json.dumps(answer).encode(),
    )


def _load(function: FunctionSpec) -> Handler:
    for layer in function.layer_dirs:
        if str(layer_python_root(layer)) not in sys.path:
            sys.path.insert(0, str(layer_python_root(layer)))
    module_name, _, attribute = function.handler.rpartition(".")
    path = Path(function.code_dir) / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function.logical_id}_{module_name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)
