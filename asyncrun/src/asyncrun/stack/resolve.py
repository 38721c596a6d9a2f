"""Which function, and which of its versions, a reference means: the one place that
turns a name, partial ARN or ARN and a qualifier into a function of the stack, the
version that runs and the qualified ARN, raising what the Lambda service raises when
it cannot (docs/async-semantics.md, R1.4)."""

from __future__ import annotations

from dataclasses import dataclass

from asyncrun.errors import InvalidParameterValueError, ResourceNotFoundError, ValidationError
from asyncrun.stack.model import (
    FUNCTION_REFERENCE_PATTERN,
    LATEST,
    FunctionReference,
    FunctionSpec,
    Stack,
    function_arn,
)

QUALIFIER_CONFLICT = "The derived qualifier from the function name does not match the specified qualifier."


@dataclass(frozen=True)
class ResolvedFunction:
    spec: FunctionSpec
    qualifier: str | None  # as the caller named it, in the reference or apart; None: unqualified

    @property
    def explicit(self) -> bool:
        """Whether a qualifier was named (the invoked ARN then shows it)."""
        return self.qualifier is not None

    @property
    def effective_qualifier(self) -> str:
        """The qualifier the event runs under, whose config applies: `$LATEST` when none
        was named."""
        return self.qualifier or LATEST

    @property
    def version(self) -> str:
        """The version that runs: an alias's version, else the qualifier itself."""
        return self.spec.aliases.get(self.effective_qualifier, self.effective_qualifier)

    @property
    def qualified_arn(self) -> str:
        return f"{self.spec.arn}:{self.effective_qualifier}"

    @property
    def invoked_arn(self) -> str:
        """The ARN as invoked: qualified only when a qualifier was named."""
        return self.qualified_arn if self.explicit else self.spec.arn


def parse_reference(reference: str) -> FunctionReference:
    """The reference's parts, or the service's validation error for one it refuses."""
    parsed = FunctionReference.parse(reference)
    if parsed is None:
        raise ValidationError.of(
            f"Value '{reference}' at 'functionName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {FUNCTION_REFERENCE_PATTERN}"
        )
    return parsed


def find_function(
    stack: Stack, reference: str, *, by_logical_id: bool = True
) -> tuple[FunctionSpec, str | None]:
    """The function `reference` names, with the qualifier it carries (unchecked); a
    missing function is reported with the ARN the reference names, without it."""
    parsed = parse_reference(reference)
    return _function(stack, parsed, None, by_logical_id=by_logical_id), parsed.qualifier


def resolve_function(
    stack: Stack, reference: str, qualifier: str | None = None, *, by_logical_id: bool = True
) -> ResolvedFunction:
    """The function `reference` names under the qualifier it carries or `qualifier`
    (both only when they agree), checked to exist as the service checks it.

    `by_logical_id` also accepts a template's logical id as a bare name (the command
    line's convenience; the Lambda API passes False, as the service knows names only)."""
    parsed = parse_reference(reference)
    qualifier = qualifier or None  # an empty qualifier names none
    if qualifier is not None and parsed.qualifier is not None and qualifier != parsed.qualifier:
        raise InvalidParameterValueError(QUALIFIER_CONFLICT)
    named = qualifier if qualifier is not None else parsed.qualifier
    spec = _function(stack, parsed, named, by_logical_id=by_logical_id)
    if named is not None and named != LATEST and named not in spec.versions and named not in spec.aliases:
        raise ResourceNotFoundError.function(f"{spec.arn}:{named}")
    return ResolvedFunction(spec, named)


def _function(
    stack: Stack, parsed: FunctionReference, named: str | None, *, by_logical_id: bool
) -> FunctionSpec:
    region = parsed.region or stack.region
    if region != stack.region:
        raise ResourceNotFoundError(
            f"Functions from '{region}' are not reachable in this region ('{stack.region}')"
        )
    spec = stack.function_named(parsed, by_logical_id=by_logical_id)
    if spec is None:
        account = parsed.account_id or stack.account_id
        raise ResourceNotFoundError.function(function_arn(region, account, parsed.name, named))
    return spec
