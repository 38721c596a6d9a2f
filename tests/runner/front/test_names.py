"""Physical names: given names are kept; made-up names look like CloudFormation's and
are the same on every run for the same stack."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from asyncrun.stack.template import generated_name, load_stack

TEMPLATE = """
    Resources:
      Queue:
        Type: AWS::SQS::Queue
      FifoQueue:
        Type: AWS::SQS::Queue
        Properties:
          FifoQueue: true
      Bucket:
        Type: AWS::S3::Bucket
      Topic:
        Type: AWS::SNS::Topic
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          KeySchema: [{AttributeName: id, KeyType: HASH}]
          AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      NamedQueue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: exactly-this
"""


def test_generated_names_follow_the_cloudformation_pattern(write_template: Callable[..., Path]) -> None:
    stack = load_stack(write_template(TEMPLATE), stack_name="shop")

    assert re.fullmatch(r"shop-Queue-[A-Z0-9]{13}", stack.queues["Queue"].name)
    assert re.fullmatch(r"shop-Topic-[A-Z0-9]{13}", stack.topics["Topic"].name)
    assert re.fullmatch(r"shop-Table-[A-Z0-9]{13}", stack.tables["Table"].name)
    assert re.fullmatch(r"shop-bucket-[a-z0-9]{13}", stack.buckets["Bucket"].name)
    assert re.fullmatch(r"shop-FifoQueue-[A-Z0-9]{13}\.fifo", stack.queues["FifoQueue"].name)
    assert stack.queues["FifoQueue"].fifo


def test_given_names_are_used_as_they_are(write_template: Callable[..., Path]) -> None:
    stack = load_stack(write_template(TEMPLATE), stack_name="shop")

    assert stack.queues["NamedQueue"].name == "exactly-this"


def test_names_are_the_same_on_every_load_and_differ_between_stacks(
    write_template: Callable[..., Path],
) -> None:
    path = write_template(TEMPLATE)

    first, again, other = (load_stack(path, stack_name=name) for name in ("shop", "shop", "other"))

    assert first.queues["Queue"].name == again.queues["Queue"].name
    assert first.queues["Queue"].name.split("-")[-1] != other.queues["Queue"].name.split("-")[-1]


def test_long_names_are_cut_to_the_service_limit() -> None:
    stack_name = "a-very-long-stack-name-that-keeps-going-and-going"
    logical_id = "AnEquallyLongLogicalIdentifierForAResource"

    function = generated_name(stack_name, logical_id, 64)
    queue = generated_name(stack_name, logical_id, 80, suffix=".fifo")
    bucket = generated_name(stack_name, logical_id, 63, lowercase=True)

    assert len(function) == 64
    assert re.search(r"-[A-Z0-9]{13}$", function)
    assert len(queue) <= 80
    assert queue.endswith(".fifo")
    assert len(bucket) <= 63
    assert bucket == bucket.lower()
    assert function.startswith("a-very-long-stack-name")
