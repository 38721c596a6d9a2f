"""The trace: what happened, in order, as listeners saw it, and as JSON."""

from __future__ import annotations

import itertools

from asyncrun.service.trace import trace_event_from_json


def test_listeners_see_every_event_in_order_and_each_round_trips_through_json(harness):
    h = harness("destinations")
    seen = []
    h.engine.add_listener(seen.append)
    request_id = h.engine.invoke_async("ToLambda", {"action": "raise"})
    h.run()
    assert seen == h.engine.trace
    assert [trace_event_from_json(e.to_json()) for e in seen] == seen
    mine = [e.kind for e in seen if e.request_id == request_id]
    assert mine == ["accepted", "attempt_started", "attempt_finished", "event_finished", "delivery"]
    assert all(b.at >= a.at for a, b in itertools.pairwise(seen))
