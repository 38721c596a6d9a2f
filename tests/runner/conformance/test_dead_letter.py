"""docs/async-semantics.md R6: dead-letter queues."""

from __future__ import annotations

import json

from asyncrun.service.metrics import DEAD_LETTER_ERRORS

# Odd spacing and a non-ASCII character: the dead-letter queue must get these bytes as they are.
PAYLOAD = '{"action":  "raise", "message": "caf\u00e9 refused",\n "n": 1}'.encode()


def _attributes(message):
    return {name: (a["DataType"], a["StringValue"]) for name, a in message["MessageAttributes"].items()}


def test_sqs_dead_letter_queue_gets_the_original_payload_byte_for_byte(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("DeadLetterToQueue", PAYLOAD)
    h.run()
    [message] = h.messages("DeadLetterQueue")
    assert message["Body"].encode() == PAYLOAD
    assert _attributes(message) == {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "caf\u00e9 refused"),
    }


def test_on_failure_and_the_dead_letter_queue_both_receive_the_failure(harness):
    h = harness("core")
    h.engine.invoke_async("DeadLetterToQueue", PAYLOAD)
    h.run()
    assert len(h.messages("DeadLetterQueue")) == 1
    assert h.one_body("FailureQueue")["requestContext"]["condition"] == "RetriesExhausted"
    assert sorted(d.kind for d in h.engine.deliveries) == ["dead_letter", "on_failure"]


def test_sns_dead_letter_topic_gets_the_payload_and_attributes(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("DeadLetterToTopic", PAYLOAD)
    h.run()
    [message] = h.messages("DeadLetterTopicQueue")  # raw delivery keeps the attributes
    assert message["Body"].encode() == PAYLOAD
    assert _attributes(message)["RequestID"] == ("String", request_id)
    assert _attributes(message)["ErrorCode"] == ("Number", "200")


def test_the_error_message_attribute_keeps_the_first_kilobyte(harness):
    h = harness("core")
    h.engine.invoke_async("DeadLetterToQueue", {"action": "raise", "message": "e" * 5000})
    h.run()
    [message] = h.messages("DeadLetterQueue")
    assert _attributes(message)["ErrorMessage"] == ("String", "e" * 1024)


def test_a_success_sends_nothing_to_the_dead_letter_queue(harness):
    h = harness("core")
    h.engine.invoke_async("DeadLetterToQueue", {"n": 1})
    h.run()
    assert h.messages("DeadLetterQueue") == []


def test_a_failed_dead_letter_send_is_counted_and_does_not_raise(harness):
    def missing_dlq(stack):
        function = stack.functions["DeadLetterToQueue"]
        function.dead_letter_target_arn = f"arn:aws:sqs:{stack.region}:{stack.account_id}:gone"

    h = harness("core", edit=missing_dlq)
    h.engine.invoke_async("DeadLetterToQueue", {"action": "raise"})
    h.run()
    assert h.metric("DeadLetterToQueue", DEAD_LETTER_ERRORS) == 1
    [failed] = [d for d in h.engine.deliveries if d.kind == "dead_letter"]
    assert not failed.ok
    assert json.loads(failed.body) == {"action": "raise"}
