"""docs/async-semantics.md R5.7 (configurations refused), R5.8 and the event invoke config store."""

from __future__ import annotations

import dataclasses

import pytest

from asyncrun.errors import DestinationConfigError, ResourceNotFoundError, ValidationError
from asyncrun.service.engine import Engine
from asyncrun.stack.model import InvokeConfig


def _worker(h, **changes) -> InvokeConfig:
    return InvokeConfig(h.name("Worker"), **changes)


def test_the_function_as_its_own_destination_is_refused(harness):
    h = harness("core")
    with pytest.raises(DestinationConfigError) as refused:
        h.engine.put_invoke_config(_worker(h, on_success=h.function("Worker").arn))
    assert str(refused.value) == "You can't specify the function as a destination for itself."
    assert (refused.value.code, refused.value.status) == ("InvalidParameterValueException", 400)


def test_a_lambda_destination_that_does_not_exist_is_refused(harness):
    h = harness("core")
    arn = f"arn:aws:lambda:{h.stack.region}:{h.stack.account_id}:function:nobody"
    with pytest.raises(DestinationConfigError) as refused:
        h.engine.put_invoke_config(_worker(h, on_failure=arn))
    assert str(refused.value) == f"The destination ARN {arn} is invalid."


def test_s3_as_on_success_is_refused_with_the_destination_config_rendered(harness):
    h = harness("core")
    with pytest.raises(DestinationConfigError) as refused:
        h.engine.put_invoke_config(_worker(h, on_success="arn:aws:s3:::a-bucket"))
    assert str(refused.value) == (
        "The provided destination config DestinationConfig("
        "onSuccess=OnSuccess(destination=arn:aws:s3:::a-bucket), onFailure=null) is invalid."
    )


def test_a_service_that_is_not_a_destination_type_is_refused(harness):
    h = harness("core")
    table = f"arn:aws:dynamodb:{h.stack.region}:{h.stack.account_id}:table/t"
    queue = h.stack.queues["FailureQueue"].arn
    with pytest.raises(DestinationConfigError) as refused:
        h.engine.put_invoke_config(_worker(h, on_success=queue, on_failure=table))
    assert str(refused.value) == (
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={queue}), "
        f"onFailure=OnFailure(destination={table})) is invalid."
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"maximum_retry_attempts": 3},
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value less than or equal to 2",
        ),
        (
            {"maximum_retry_attempts": -1},
            "1 validation error detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0",
        ),
        (
            {"maximum_event_age_seconds": 59},
            "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy "
            "constraint: Member must have value greater than or equal to 60",
        ),
        (
            {"maximum_event_age_seconds": 21601, "maximum_retry_attempts": 5},
            "2 validation errors detected: Value '5' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value less than or equal to 2; Value '21601' at 'maximumEventAgeInSeconds' "
            "failed to satisfy constraint: Member must have value less than or equal to 21600",
        ),
    ],
)
def test_retries_and_age_outside_their_ranges_are_validation_errors(harness, changes, message):
    h = harness("core")
    with pytest.raises(ValidationError) as refused:
        h.engine.put_invoke_config(_worker(h, **changes))
    assert str(refused.value) == message
    assert (refused.value.code, refused.value.status) == ("ValidationException", 400)


@pytest.mark.parametrize(("retries", "age"), [(0, 60), (2, 21600)])
def test_the_range_bounds_are_accepted(harness, retries, age):
    h = harness("core")
    stored = h.engine.put_invoke_config(
        _worker(h, maximum_retry_attempts=retries, maximum_event_age_seconds=age)
    )
    assert h.engine.invoke_configs.get("Worker") == stored


def test_the_engine_refuses_to_start_on_an_invalid_template_config(harness):
    h = harness("core")
    stack = dataclasses.replace(h.stack)
    worker = h.function("Worker")
    stack.invoke_configs = [InvokeConfig(worker.name, on_failure=worker.arn)]
    with pytest.raises(DestinationConfigError, match="destination for itself"):
        Engine(stack, h.endpoint, executor=h.engine.executor)


def test_put_replaces_update_merges_get_list_delete(harness):
    h = harness("core")
    store = h.engine.invoke_configs
    queue = h.stack.queues["FailureQueue"].arn
    # put replaces the whole config
    store.put(_worker(h, maximum_retry_attempts=1, on_failure=queue))
    assert store.get("Worker") == _worker(h, maximum_retry_attempts=1, on_failure=queue)
    # update changes only what it names
    store.update("Worker", maximum_event_age_seconds=120)
    assert store.get("Worker") == _worker(
        h, maximum_retry_attempts=1, maximum_event_age_seconds=120, on_failure=queue
    )
    store.update("Worker", on_failure=None)
    assert store.get("Worker").on_failure is None
    # one config per qualifier
    store.put(InvokeConfig(h.name("Aliased"), qualifier="1", maximum_retry_attempts=0))
    assert {c.qualifier for c in store.list("Aliased")} == {"live", "1"}
    store.delete("Aliased", "1")
    assert [c.qualifier for c in store.list("Aliased")] == ["live"]
    with pytest.raises(ResourceNotFoundError, match="doesn't have an EventInvokeConfig"):
        store.delete("Aliased", "1")
    with pytest.raises(ResourceNotFoundError, match="doesn't have an EventInvokeConfig"):
        store.update("Twin", maximum_retry_attempts=0)


def test_a_config_for_a_missing_qualifier_is_refused(harness):
    h = harness("core")
    with pytest.raises(ResourceNotFoundError, match=r"Function not found: .*:nope$"):
        h.engine.put_invoke_config(InvokeConfig(h.name("Aliased"), qualifier="nope"))
