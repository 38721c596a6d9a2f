"""The trace: what happened, in order, as listeners saw it, and as JSON."""

from __future__ import annotations

import itertools
import json

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


def test_an_event_queued_by_a_lambda_destination_names_the_request_whose_record_it_is(harness):
    h = harness("destinations")
    request_id = h.engine.invoke_async("ToLambda", {"action": "raise"})
    h.run()
    queued = [e for e in h.engine.trace if e.kind == "accepted"]
    assert [(e.source, e.caused_by) for e in queued] == [("invoke", None), ("destination", request_id)]
    (delivery,) = [e for e in h.engine.trace if e.kind == "delivery"]
    assert delivery.body == h.engine.deliveries[0].body
    assert json.loads(delivery.body)["requestContext"]["requestId"] == request_id


def test_an_s3_notification_of_an_object_a_function_wrote_names_the_writing_request(harness):
    # Given Looper, which writes to the bucket that notifies it
    h = harness("s3")
    h.endpoint.client("s3").put_object(Bucket=h.stack.buckets["LoopBucket"].name, Key="k", Body=b"start")
    h.run()
    queued = [e for e in h.engine.trace if e.kind == "accepted"]
    # the caller's upload has no cause; each later event was caused by the one before it
    assert queued[0].caused_by is None
    assert [e.caused_by for e in queued[1:]] == [e.request_id for e in queued[:-1]]
