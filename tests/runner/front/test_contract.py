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


def test_every_record_the_suites_delivered_validates_against_the_model() -> None:
    records = delivered_records()
    if not records:
        pytest.skip("no pipeline or conformance test ran in this session: no delivered records to check")
    for record in records:
        InvocationRecord.model_validate(record)
    conditions = Counter(record["requestContext"]["condition"] for record in records)
    assert conditions["Success"] > 0


@pytest.mark.parametrize("condition", RUNNER_CONDITIONS)
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
