"""Every invocation record asyncrun delivers validates against the layer's
`InvocationRecord`, and that model accepts every condition the runner can emit.

The records are those the pipeline and conformance suites' engines delivered in this
session (tests/support/contract.py): these tests run after every other test
(`contract` marker, ordered last by tests/conftest.py)."""

from __future__ import annotations

import typing
from collections import Counter

import pytest

from asyncrun.service.records import Condition, build_record
from tests.support.contract import InvocationRecord, delivered_records

pytestmark = pytest.mark.contract

RUNNER_CONDITIONS = typing.get_args(Condition)
# Conditions the layer's model does not accept yet, with why.
REJECTED_TODAY = {"RecursiveInvocationDropped": "fixed by the layer's models change"}


def test_every_record_the_suites_delivered_validates_against_the_model() -> None:
    records = delivered_records()
    if not records:
        pytest.skip("no pipeline or conformance test ran in this session: no delivered records to check")
    checked = [r for r in records if r["requestContext"]["condition"] not in REJECTED_TODAY]
    for record in checked:
        InvocationRecord.model_validate(record)
    conditions = Counter(record["requestContext"]["condition"] for record in checked)
    assert conditions["Success"] > 0


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=REJECTED_TODAY[c]))
        if c in REJECTED_TODAY
        else c
        for c in RUNNER_CONDITIONS
    ],
)
def test_the_model_accepts_every_condition_the_runner_can_emit(condition: str) -> None:
    ran = condition not in ("ZeroReservedConcurrency", "RecursiveInvocationDropped")
    record = build_record(
        timestamp=1_764_000_000.123,
        request_id="c0ffee00-0000-4000-8000-000000000000",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        condition=typing.cast(Condition, condition),
        approximate_invoke_count=1 if ran else 0,
        request_payload=b'{"n": 1}',
        executed_version="$LATEST" if ran else None,
        response_payload=b"null" if ran else None,
        function_error=None if condition == "Success" else ("Unhandled" if ran else None),
    )

    model = InvocationRecord.model_validate(record)

    assert model.condition == condition
