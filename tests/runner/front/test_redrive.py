"""Redrive: failure records in a queue are re-invoked with their original payload; a
message is deleted only once its new invocation was accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncrun.cli.redrive import RedriveError, choose_queue, failure_queues, redrive
from asyncrun.runtimes import default_executor
from asyncrun.service.engine import Engine
from asyncrun.service.faults import Fault
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import QueueSpec, Stack
from asyncrun.stack.provision import provision
from tests.support.template import project_template

PAYLOAD = {"order": 42, "items": ["a", "b"]}


def messages(endpoint: Endpoint, queue: QueueSpec) -> list[dict[str, Any]]:
    """Every message body in the queue, parsed; the messages are consumed."""
    sqs = endpoint.client("sqs")
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def depth(endpoint: Endpoint, queue: QueueSpec) -> int:
    attributes = endpoint.client("sqs").get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.fixture
def failed_engine(endpoint: Endpoint, echo_stack: Stack) -> Engine:
    """Echo failed three times on PAYLOAD (a fault used up), so its failure record is in
    the failure queue; the next run of Echo succeeds."""
    provision(echo_stack, endpoint)
    engine = Engine(
        echo_stack,
        endpoint,
        faults=[Fault("Echo", "error", times=3)],
        executor=default_executor(echo_stack, endpoint),
    )
    engine.invoke_async("Echo", json.dumps(PAYLOAD))
    engine.run_until_idle()
    assert depth(endpoint, echo_stack.queues["FailureQueue"]) == 1
    return engine


def test_a_failure_record_is_reinvoked_with_its_original_payload(failed_engine: Engine) -> None:
    stack, endpoint = failed_engine.stack, failed_engine.endpoint
    failures = stack.queues["FailureQueue"]

    # When the failure queue is redriven
    report = redrive(failed_engine, failures)
    failed_engine.run_until_idle()

    # Then the record's function ran again on the same payload, and succeeded this time
    (item,) = report.redriven
    assert item.request_id is not None
    assert item.request_id != item.original_request_id
    assert item.condition == "RetriesExhausted"
    (success,) = messages(endpoint, stack.queues["SuccessQueue"])
    assert success["requestContext"]["requestId"] == item.request_id
    assert success["requestPayload"] == PAYLOAD
    # and the record left the failure queue
    assert depth(endpoint, failures) == 0


def test_dry_run_changes_nothing(failed_engine: Engine) -> None:
    stack, endpoint = failed_engine.stack, failed_engine.endpoint
    accepted_before = len([event for event in failed_engine.trace if event.kind == "accepted"])

    report = redrive(failed_engine, stack.queues["FailureQueue"], dry_run=True)

    assert len(report.redriven) == 1
    assert report.redriven[0].request_id is None
    assert depth(endpoint, stack.queues["FailureQueue"]) == 1
    assert len([event for event in failed_engine.trace if event.kind == "accepted"]) == accepted_before
    # the message is visible again at once, for the next redrive
    assert len(messages(endpoint, stack.queues["FailureQueue"])) == 1


def test_messages_that_cannot_be_redriven_stay_in_place(failed_engine: Engine) -> None:
    stack, endpoint = failed_engine.stack, failed_engine.endpoint
    failures = stack.queues["FailureQueue"]
    sqs = endpoint.client("sqs")
    # Given a message that is not a record, and a record of a function the stack lacks
    sqs.send_message(QueueUrl=failures.url, MessageBody="plain text")
    stranger = {
        "version": "1.0",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": f"arn:aws:lambda:{stack.region}:{stack.account_id}:function:elsewhere:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {},
    }
    sqs.send_message(QueueUrl=failures.url, MessageBody=json.dumps(stranger))

    # When the queue is redriven
    report = redrive(failed_engine, failures)

    # Then only Echo's record was taken; the other two are still there
    assert len(report.redriven) == 1
    reasons = sorted(item.reason for item in report.left)
    assert reasons[0].startswith("ResourceNotFoundException")
    assert reasons[1] == "not JSON"
    assert depth(endpoint, failures) == 2


def test_limit_caps_the_records_redriven(failed_engine: Engine) -> None:
    stack, endpoint = failed_engine.stack, failed_engine.endpoint
    failures = stack.queues["FailureQueue"]
    # Given a second failure record
    failed_engine.faults.add(Fault("Echo", "error", times=3))
    failed_engine.invoke_async("Echo", json.dumps({"order": 43}))
    failed_engine.run_until_idle()
    assert depth(endpoint, failures) == 2

    report = redrive(failed_engine, failures, limit=1)

    assert len(report.redriven) == 1
    assert depth(endpoint, failures) == 1


def test_the_failure_queue_is_found_from_the_stack(echo_stack: Stack) -> None:
    assert [queue.logical_id for queue in failure_queues(echo_stack)] == ["FailureQueue"]
    assert choose_queue(echo_stack, None).logical_id == "FailureQueue"
    assert choose_queue(echo_stack, "SuccessQueue").logical_id == "SuccessQueue"
    with pytest.raises(RedriveError, match="no queue 'Nope'"):
        choose_queue(echo_stack, "Nope")


def test_the_project_debug_queue_is_its_failure_queue() -> None:
    from asyncrun.stack.template import load_stack

    stack = load_stack(project_template().path)

    # The debug queue is fed by the topic every OnFailure points at.
    assert [queue.logical_id for queue in failure_queues(stack)] == ["DebugQueue"]


def test_several_failure_queues_need_a_choice(write_template: Callable[..., Path]) -> None:
    from asyncrun.stack.template import load_stack

    path = write_template("""
        Resources:
          One: {Type: AWS::SQS::Queue}
          Two: {Type: AWS::SQS::Queue}
          Role: {Type: AWS::IAM::Role}
          First:
            Type: AWS::Lambda::Function
            Properties: {Code: a/, Handler: app.h, Runtime: python3.13, Role: !GetAtt Role.Arn,
                         DeadLetterConfig: {TargetArn: !GetAtt One.Arn}}
          Second:
            Type: AWS::Lambda::Function
            Properties: {Code: a/, Handler: app.h, Runtime: python3.13, Role: !GetAtt Role.Arn,
                         DeadLetterConfig: {TargetArn: !GetAtt Two.Arn}}
    """)

    with pytest.raises(RedriveError, match=r"several queues receive failures \(One, Two\)"):
        choose_queue(load_stack(path), None)
