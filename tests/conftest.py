"""Fixtures shared by every test folder: the template, fake AWS credentials, an
in-process moto, the stack's storage created from the template's own definitions,
and a way to invoke a function's real handler with the environment Lambda gives it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from asyncrun.runtimes.context import LambdaContext
from tests.support.handlers import load_handler
from tests.support.storage import Invoke, StackStorage, create_bucket, create_table
from tests.support.template import Template, project_template

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The contract tests read what the other tests delivered: they run last."""
    items.sort(key=lambda item: item.get_closest_marker("contract") is not None)


@pytest.fixture(scope="session")
def template() -> Template:
    return project_template()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, template: Template) -> None:
    """Fake credentials in the template's region; nothing may reach a real account, and
    the tracer must not look for an X-Ray daemon."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", template.region)
    monkeypatch.setenv("AWS_REGION", template.region)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def storage(aws: None, template: Template) -> StackStorage:
    """The stack's buckets and tables in moto, named and keyed as the template says."""
    return StackStorage(
        upload_bucket=create_bucket(template, "UploadBucket"),
        audit_bucket=create_bucket(template, "AuditLogBucket"),
        process_table=create_table(template, "ProcessTable"),
        idempotency_table=create_table(template, "IdempotencyTable"),
    )


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, template: Template) -> Invoke:
    """`invoke("ProcessFunction", event, request_id=...)`: the function's handler, called
    with only its own template environment and a context of its `live` alias (in the
    template's account unless `account_id` names another)."""

    def _invoke(
        function_id: str, event: Any, *, request_id: str | None = None, account_id: str | None = None
    ) -> Any:
        for other in template.functions:
            for name in template.environment(other):
                monkeypatch.delenv(name, raising=False)
        for name, value in template.environment(function_id).items():
            monkeypatch.setenv(name, value)
        name = template.physical_name(function_id)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", name)
        context = LambdaContext.for_function(
            name=name,
            region=template.region,
            account_id=account_id or template.account_id,
            version="1",
            qualifier=str(template.function_property(function_id, "AutoPublishAlias")),
            memory_mb=int(template.function_property(function_id, "MemorySize")),
            timeout_seconds=float(template.function_property(function_id, "Timeout")),
            request_id=request_id,
        )
        handler = load_handler(template, function_id)
        return handler(copy.deepcopy(event), context)

    return _invoke
