"""One resolver for function references (docs/async-semantics.md R1.4): every form
the service accepts, the errors it raises, and the logical ids only the command line
and the engine take."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncrun.errors import InvalidParameterValueError, ResourceNotFoundError, ValidationError
from asyncrun.stack.model import FunctionSpec, Stack
from asyncrun.stack.resolve import resolve_function

ARN = "arn:aws:lambda:us-east-1:123456789012:function:order-worker"


@pytest.fixture
def stack() -> Stack:
    worker = FunctionSpec(
        logical_id="Worker",
        name="order-worker",
        arn=ARN,
        code_dir=Path("."),
        handler="app.handler",
        runtime="python3.13",
        timeout=3,
        memory_size=128,
        versions=("1", "2"),
        aliases={"live": "2"},
    )
    return Stack("s", "us-east-1", "123456789012", Path("template.yaml"), functions={"Worker": worker})


@pytest.mark.parametrize(
    ("reference", "qualifier", "runs_under", "version", "invoked_arn"),
    [
        ("order-worker", None, "$LATEST", "$LATEST", ARN),
        ("Worker", None, "$LATEST", "$LATEST", ARN),
        ("order-worker:live", None, "live", "2", f"{ARN}:live"),
        ("123456789012:function:order-worker", "1", "1", "1", f"{ARN}:1"),
        (f"{ARN}:$LATEST", None, "$LATEST", "$LATEST", f"{ARN}:$LATEST"),
        (ARN, "live", "live", "2", f"{ARN}:live"),
    ],
)
def test_every_form_resolves_to_the_function_the_qualifier_and_the_version(
    stack: Stack, reference: str, qualifier: str | None, runs_under: str, version: str, invoked_arn: str
) -> None:
    resolved = resolve_function(stack, reference, qualifier)

    assert resolved.spec.logical_id == "Worker"
    assert (resolved.effective_qualifier, resolved.version, resolved.invoked_arn) == (
        runs_under,
        version,
        invoked_arn,
    )
    assert resolved.qualified_arn == f"{ARN}:{runs_under}"


def test_the_lambda_api_does_not_take_a_logical_id(stack: Stack) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        resolve_function(stack, "Worker", by_logical_id=False)

    assert (
        missing.value.message == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Worker"
    )


def test_a_logical_id_inside_an_arn_is_not_a_name(stack: Stack) -> None:
    with pytest.raises(ResourceNotFoundError):
        resolve_function(stack, "arn:aws:lambda:us-east-1:123456789012:function:Worker")


@pytest.mark.parametrize(
    ("reference", "qualifier", "error", "message"),
    [
        (
            "nope",
            "live",
            ResourceNotFoundError,
            f"Function not found: {ARN.replace('order-worker', 'nope')}:live",
        ),
        ("order-worker", "3", ResourceNotFoundError, f"Function not found: {ARN}:3"),
        (
            ARN.replace("123456789012", "210987654321"),
            None,
            ResourceNotFoundError,
            "Function not found: arn:aws:lambda:us-east-1:210987654321:function:order-worker",
        ),
        (
            ARN.replace("us-east-1", "eu-west-1"),
            None,
            ResourceNotFoundError,
            "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
        ),
        (
            "order-worker:live",
            "1",
            InvalidParameterValueError,
            "The derived qualifier from the function name does not match the specified qualifier.",
        ),
    ],
)
def test_what_does_not_resolve_raises_the_services_error(
    stack: Stack, reference: str, qualifier: str | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as refused:
        resolve_function(stack, reference, qualifier)

    assert str(refused.value) == message


def test_a_malformed_reference_is_a_validation_error(stack: Stack) -> None:
    with pytest.raises(ValidationError) as refused:
        resolve_function(stack, "order worker")

    assert str(refused.value).startswith(
        "1 validation error detected: Value 'order worker' at 'functionName'"
    )


def test_the_stacks_find_function_agrees_with_the_resolver(stack: Stack) -> None:
    assert stack.find_function("123456789012:function:order-worker:live") == (
        stack.functions["Worker"],
        "live",
    )
    with pytest.raises(KeyError):
        stack.find_function(ARN.replace("123456789012", "210987654321"))
