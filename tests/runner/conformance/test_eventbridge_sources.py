"""EventBridge -> Lambda: a rule whose pattern matches invokes its Lambda targets
asynchronously with the event, Input / InputPath / InputTransformer applied."""

from __future__ import annotations

import json
import re

from asyncrun.service.metrics import INVOCATIONS


def _recorded(h, queue: str = "RuleRecords") -> list[dict]:
    return [body["event"] for body in h.bodies(queue)]


def _put(h, source: str, detail_type: str, detail: dict, *, bus: str | None = None) -> str:
    entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
    if bus != "default":
        entry["EventBusName"] = bus or h.stack.buses["Bus"].name
    response = h.endpoint.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0
    return str(response["Entries"][0]["EventId"])


def test_a_target_without_input_settings_gets_the_whole_event(harness):
    h = harness("sources")
    event_id = _put(h, "shop.orders", "Order Placed", {"id": "o-7", "total": 12})
    h.run()
    whole, detail = _recorded(h)
    assert list(whole) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
    ]  # fmt: skip
    assert whole["version"] == "0"
    assert whole["id"] == event_id
    assert whole["detail-type"] == "Order Placed"
    assert whole["source"] == "shop.orders"
    assert whole["account"] == h.stack.account_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", whole["time"])
    assert whole["region"] == h.stack.region
    assert whole["detail"] == {"id": "o-7", "total": 12}
    # The rule's second target has InputPath $.detail; a disabled rule invokes nothing.
    assert detail == {"id": "o-7", "total": 12}
    assert h.metric("RuleRecorder", INVOCATIONS) == 2


def test_an_input_transformer_fills_its_template(harness):
    h = harness("sources")
    _put(h, "shop.orders", "Order Shipped", {"id": "o-8", "items": [1, 2]})
    h.run()
    [event] = _recorded(h)
    assert event == {
        "order": "o-8",
        "items": [1, 2],
        "text": "order o-8 shipped",
        "rule": h.stack.rules["RuleRecorderShipped"].name,
    }


def test_a_constant_input_replaces_the_event_on_the_default_bus(harness):
    h = harness("sources")
    _put(h, "shop.legacy", "Anything", {"a": 1}, bus="default")
    _put(h, "shop.other", "Anything", {"a": 1}, bus="default")
    h.run()
    assert _recorded(h) == [{"fixed": True}]


def test_an_eventbridge_destinations_event_reaches_a_matching_rule(harness):
    h = harness("sources")
    request_id = h.engine.invoke_async("ToBus", {"n": 2})
    h.run()
    [event] = _recorded(h)
    assert event["source"] == "lambda"
    assert event["detail-type"] == "Lambda Function Invocation Result - Success"
    assert event["resources"][1] == f"{h.function('ToBus').arn}:$LATEST"
    assert event["detail"]["requestContext"]["requestId"] == request_id
    # Lambda's recursion detection does not follow EventBridge: the target's event
    # starts a chain of its own.
    [accepted] = [e for e in h.engine.trace if e.kind == "accepted" and e.source == "eventbridge"]
    assert accepted.hops == 0
