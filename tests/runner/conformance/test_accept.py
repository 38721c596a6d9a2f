"""docs/async-semantics.md R1: accepting an asynchronous event."""

from __future__ import annotations

import json
import uuid

import pytest

from asyncrun.errors import InvalidRequestContentError, RequestTooLargeError, ResourceNotFoundError
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT as ASYNC_PAYLOAD_LIMIT
from asyncrun.service.metrics import ASYNC_EVENTS_RECEIVED, INVOCATIONS


def _payload_of_size(size: int) -> bytes:
    shell = b'{"pad":""}'
    body = b'{"pad":"' + b"x" * (size - len(shell)) + b'"}'
    assert len(body) == size
    return body


def test_invoke_returns_a_uuid4_request_id_before_anything_runs(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"n": 1})
    assert uuid.UUID(request_id).version == 4
    assert h.engine.pending == 1
    assert h.metric("Worker", INVOCATIONS) == 0
    assert h.metric("Worker", ASYNC_EVENTS_RECEIVED) == 1
    assert [e.kind for e in h.engine.trace] == ["accepted"]


def test_payload_of_exactly_one_mebibyte_is_accepted_and_runs(harness):
    h = harness("core")
    h.engine.invoke_async("Unconfigured", _payload_of_size(ASYNC_PAYLOAD_LIMIT))
    h.run()
    assert ASYNC_PAYLOAD_LIMIT == 1_048_576
    assert h.metric("Unconfigured", INVOCATIONS) == 1


def test_payload_one_byte_over_the_limit_is_refused_with_413_and_nothing_queued(harness):
    h = harness("core")
    with pytest.raises(RequestTooLargeError) as refused:
        h.engine.invoke_async("Worker", _payload_of_size(ASYNC_PAYLOAD_LIMIT + 1))
    assert refused.value.status == 413
    assert refused.value.code == "RequestEntityTooLargeException"
    # The same words as the Lambda API's answer to an Event invoke (tests/serve)
    assert str(refused.value) == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    assert h.engine.pending == 0
    assert h.metric("Worker", ASYNC_EVENTS_RECEIVED) == 0


@pytest.mark.parametrize("empty", [b"", "", None])
def test_empty_payload_is_the_empty_object(harness, empty):
    h = harness("core")
    h.engine.invoke_async("Worker", empty)
    h.run()
    record = h.one_body("SuccessQueue")
    assert record["requestPayload"] == {}
    assert record["responsePayload"] == {"echo": {}}


def test_zero_reserved_concurrency_still_accepts(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Zero", {"n": 1})
    assert uuid.UUID(request_id)
    assert h.metric("Zero", ASYNC_EVENTS_RECEIVED) == 1


def test_unknown_function_is_resource_not_found_with_the_services_message(harness):
    h = harness("core")
    with pytest.raises(ResourceNotFoundError) as missing:
        h.engine.invoke_async("nope", {})
    stack = h.stack
    assert (
        str(missing.value)
        == f"Function not found: arn:aws:lambda:{stack.region}:{stack.account_id}:function:nope"
    )
    assert (missing.value.code, missing.value.status) == ("ResourceNotFoundException", 404)


def test_unknown_qualifier_is_resource_not_found(harness):
    h = harness("core")
    with pytest.raises(ResourceNotFoundError) as missing:
        h.engine.invoke_async("Aliased", {}, qualifier="nope")
    assert str(missing.value) == f"Function not found: {h.function('Aliased').arn}:nope"


def test_a_payload_that_is_not_json_is_refused(harness):
    h = harness("core")
    with pytest.raises(InvalidRequestContentError) as refused:
        h.engine.invoke_async("Worker", b"not json")
    assert refused.value.status == 400
    assert str(refused.value).startswith("Could not parse request body into json")
    assert h.engine.pending == 0


def test_every_accepted_event_counts_async_events_received(harness):
    h = harness("core")
    for n in range(3):
        h.engine.invoke_async("Worker", json.dumps({"n": n}))
    assert h.metric("Worker", ASYNC_EVENTS_RECEIVED) == 3
