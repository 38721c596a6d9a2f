from typing import Any

import pytest

from asyncrun.service.sources import receive_all
from asyncrun.stack import moto_sqs
from asyncrun.stack.endpoint import Endpoint


def _queue(endpoint: Endpoint, name: str) -> tuple[Any, str]:
    sqs = endpoint.client("sqs")
    return sqs, sqs.create_queue(QueueName=name)["QueueUrl"]


def test_a_runner_queue_is_read_whole_in_arrival_order_and_left_empty(endpoint: Endpoint) -> None:
    sqs, url = _queue(endpoint, "runner-own")
    for n in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    assert receive_all(endpoint, url) == [f"m{n}" for n in range(25)]
    # Then the queue holds nothing, as the API sees it
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    assert receive_all(endpoint, url) == []


def test_once_read_a_runner_queue_sets_what_arrives_aside_for_the_runner(endpoint: Endpoint) -> None:
    sqs, url = _queue(endpoint, "runner-own")
    sqs.send_message(QueueUrl=url, MessageBody="before")
    assert receive_all(endpoint, url) == ["before"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"after {n}")
    # The queue itself stays empty, however much arrives before the runner reads it again
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert receive_all(endpoint, url) == ["after 0", "after 1", "after 2"]
    # and another queue, which the runner does not read, is untouched
    other, other_url = _queue(endpoint, "someone-elses")
    other.send_message(QueueUrl=other_url, MessageBody="theirs")
    [message] = other.receive_message(QueueUrl=other_url)["Messages"]
    assert message["Body"] == "theirs"


def test_an_embedded_queue_is_read_without_an_sqs_call(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = _queue(endpoint, "runner-own")
    sqs.send_message(QueueUrl=url, MessageBody="one")

    def no_client(service: str) -> Any:
        raise AssertionError(f"an {service} client was asked for")

    monkeypatch.setattr(endpoint, "client", no_client)
    assert receive_all(endpoint, url) == ["one"]
    assert receive_all(endpoint, url) == []


def test_a_message_another_reader_holds_or_a_delayed_one_stays(endpoint: Endpoint) -> None:
    sqs, url = _queue(endpoint, "runner-own")
    sqs.send_message(QueueUrl=url, MessageBody="held")
    [held] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=300)
    sqs.send_message(QueueUrl=url, MessageBody="ready")
    assert receive_all(endpoint, url) == ["ready"]
    # The held message is still its reader's to delete, and the delayed one still counts
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_queue_this_process_does_not_hold_is_not_taken(endpoint: Endpoint) -> None:
    elsewhere = "https://sqs.us-east-1.amazonaws.com/123456789012/elsewhere"
    assert moto_sqs.take_all(elsewhere, "us-east-1") is None
    assert moto_sqs.take_all("http://127.0.0.1:9/not-a-queue-url", "us-east-1") is None
