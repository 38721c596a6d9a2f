"""The application's tests, with nothing but asyncrun installed: the asyncrun_stack
fixture comes from its pytest plugin, no conftest."""

from pathlib import Path

TEMPLATE = Path(__file__).parent / "template.yaml"


def test_a_priced_order_reaches_the_priced_queue(asyncrun_stack):
    stack = asyncrun_stack(TEMPLATE, {"Currency": "USD"})
    request_id = stack.invoke_async("PriceFunction", {"order_id": "o-1", "quantity": 3, "unit_price": "2.50"})
    stack.run()

    stack.assert_condition(request_id, "Success")
    stack.assert_attempts(request_id, 1)
    (record,) = stack.messages("PricedQueue")
    assert record == stack.success_record(request_id)
    assert record["responsePayload"] == {"order_id": "o-1", "total": "7.50", "currency": "USD"}
    assert stack.messages("UnpricedInbox") == []


def test_an_order_that_cannot_be_priced_is_retried_then_reaches_the_topic(asyncrun_stack):
    stack = asyncrun_stack(TEMPLATE)
    request_id = stack.invoke_async("PriceFunction", {"order_id": "o-2", "quantity": 3})
    stack.run()

    stack.assert_attempts(request_id, 2)  # MaximumRetryAttempts: 1
    stack.assert_condition(request_id, "RetriesExhausted")
    record = stack.failure_record(request_id)
    assert record["requestPayload"] == {"order_id": "o-2", "quantity": 3}
    assert record["responsePayload"]["errorType"] == "UnpriceableOrderError"
    assert stack.messages("UnpricedInbox") == [record]  # through the topic, raw delivery
    assert stack.messages("PricedQueue") == []


def test_an_injected_throttle_delays_but_does_not_use_a_retry(asyncrun_stack):
    stack = asyncrun_stack(TEMPLATE, faults=["PriceFunction:throttle:1.0:2"])
    request_id = stack.invoke_async("PriceFunction", {"order_id": "o-3", "quantity": 1, "unit_price": 4})
    stack.run()

    assert [a.outcome for a in stack.attempts(request_id)] == ["throttled", "throttled", "success"]
    stack.assert_attempts(request_id, 1)
    assert stack.success_record(request_id)["responsePayload"]["total"] == "4"
