"""Provisioning creates what the stack holds at the endpoint, and finds it again on a
second run instead of failing or duplicating it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack
from asyncrun.stack.provision import provision
from asyncrun.stack.template import load_stack
from tests.support.template import project_template

TEMPLATE = project_template()


@pytest.fixture
def project_stack() -> Stack:
    return load_stack(TEMPLATE.path)


def inventory(endpoint: Endpoint, stack: Stack) -> dict[str, object]:
    """What the endpoint holds, in a comparable form."""
    lambda_client = endpoint.client("lambda")
    functions = sorted(item["FunctionName"] for item in lambda_client.list_functions()["Functions"])
    return {
        "buckets": sorted(bucket["Name"] for bucket in endpoint.client("s3").list_buckets()["Buckets"]),
        "queues": sorted(endpoint.client("sqs").list_queues().get("QueueUrls", [])),
        "topics": sorted(topic["TopicArn"] for topic in endpoint.client("sns").list_topics()["Topics"]),
        "subscriptions": sorted(
            (item["TopicArn"], item["Protocol"], item["Endpoint"])
            for item in endpoint.client("sns").list_subscriptions()["Subscriptions"]
        ),
        "tables": sorted(endpoint.client("dynamodb").list_tables()["TableNames"]),
        "functions": functions,
        "versions": {
            name: sorted(
                v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
            )
            for name in functions
        },
        "aliases": {
            name: {
                a["Name"]: a["FunctionVersion"]
                for a in lambda_client.list_aliases(FunctionName=name)["Aliases"]
            }
            for name in functions
        },
    }


def test_the_project_stack_is_created_and_a_second_run_changes_nothing(
    endpoint: Endpoint, project_stack: Stack
) -> None:
    # Given a fresh endpoint, when the stack is provisioned twice
    provision(project_stack, endpoint)
    first = inventory(endpoint, project_stack)
    provision(project_stack, endpoint)
    second = inventory(endpoint, project_stack)

    # Then the second run found everything the first created
    assert first == second
    assert first["buckets"] == sorted(bucket.name for bucket in project_stack.buckets.values())
    assert first["tables"] == sorted(table.name for table in project_stack.tables.values())
    assert first["functions"] == sorted(function.name for function in project_stack.functions.values())
    for function in project_stack.functions.values():
        assert first["versions"][function.name] == ["$LATEST", *function.versions]  # type: ignore[index]
        assert first["aliases"][function.name] == function.aliases  # type: ignore[index]


def test_queue_urls_are_filled_in(endpoint: Endpoint, project_stack: Stack) -> None:
    provision(project_stack, endpoint)

    queue = project_stack.queues["DebugQueue"]
    attributes = endpoint.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["QueueArn"] == queue.arn
    declared = TEMPLATE.properties("DebugQueue")
    assert attributes["VisibilityTimeout"] == str(declared["VisibilityTimeout"])
    assert attributes["MessageRetentionPeriod"] == str(declared["MessageRetentionPeriod"])


def test_the_debug_subscription_delivers_raw_messages(endpoint: Endpoint, project_stack: Stack) -> None:
    provision(project_stack, endpoint)
    topic = project_stack.topics["AlertTopic"]
    queue = project_stack.queues["DebugQueue"]

    # When a record is published to the alert topic
    record = {"version": "1.0", "requestContext": {"condition": "RetriesExhausted"}}
    endpoint.client("sns").publish(TopicArn=topic.arn, Message=json.dumps(record))

    # Then the debug queue receives it unchanged (no SNS envelope)
    (message,) = endpoint.client("sqs").receive_message(QueueUrl=queue.url)["Messages"]
    assert json.loads(message["Body"]) == record


def test_buckets_get_versioning_but_no_lambda_notification(endpoint: Endpoint, project_stack: Stack) -> None:
    provision(project_stack, endpoint)
    s3 = endpoint.client("s3")
    bucket = project_stack.buckets["UploadBucket"]

    assert s3.get_bucket_versioning(Bucket=bucket.name)["Status"] == "Enabled"
    # The engine's S3 bridge owns Lambda notifications.
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket.name)


def test_tables_get_their_ttl(endpoint: Endpoint, project_stack: Stack) -> None:
    provision(project_stack, endpoint)
    table = project_stack.tables["IdempotencyTable"]

    description = endpoint.client("dynamodb").describe_time_to_live(TableName=table.name)
    assert description["TimeToLiveDescription"]["AttributeName"] == table.ttl_attribute


def test_fifo_queues_redrive_policies_rules_and_buses(
    endpoint: Endpoint, write_template: Callable[..., Path]
) -> None:
    # Given queues with a redrive policy, a bus, and a rule with an SQS and a Lambda target
    path = write_template("""
        Resources:
          Dead:
            Type: AWS::SQS::Queue
          Ordered:
            Type: AWS::SQS::Queue
            Properties:
              FifoQueue: true
              ContentBasedDeduplication: true
              RedrivePolicy:
                deadLetterTargetArn: !GetAtt DeadFifo.Arn
                maxReceiveCount: 3
          DeadFifo:
            Type: AWS::SQS::Queue
            Properties:
              FifoQueue: true
          Bus:
            Type: AWS::Events::EventBus
            Properties:
              Name: shop
          Role:
            Type: AWS::IAM::Role
          Worker:
            Type: AWS::Lambda::Function
            Properties:
              Code: src/
              Handler: app.handler
              Runtime: python3.13
              Role: !GetAtt Role.Arn
              ReservedConcurrentExecutions: 0
          Rule:
            Type: AWS::Events::Rule
            Properties:
              EventBusName: !Ref Bus
              EventPattern: {source: [shop]}
              Targets:
                - {Id: queue, Arn: !GetAtt Dead.Arn}
                - {Id: lambda, Arn: !GetAtt Worker.Arn}
    """)
    stack = load_stack(path, stack_name="s")

    # When provisioned twice
    provision(stack, endpoint)
    provision(stack, endpoint)

    # Then the FIFO queue has its attributes and redrive policy
    sqs = endpoint.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queues["Ordered"].url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["FifoQueue"] == "true"
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == stack.queues["DeadFifo"].arn
    # and the rule only has the target the endpoint can deliver (the engine bridges Lambda)
    events = endpoint.client("events")
    rule = stack.rules["Rule"]
    targets = events.list_targets_by_rule(Rule=rule.name, EventBusName="shop")["Targets"]
    assert [target["Id"] for target in targets] == ["queue"]
    # and the function exists with its reserved concurrency
    concurrency = endpoint.client("lambda").get_function_concurrency(
        FunctionName=stack.functions["Worker"].name
    )
    assert concurrency["ReservedConcurrentExecutions"] == 0


def test_provisioning_says_that_policies_are_not_enforced(
    endpoint: Endpoint, project_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="asyncrun.stack.provision"):
        provision(project_stack, endpoint)

    assert "IAM roles and policies" in caplog.text
    assert "not enforced locally" in caplog.text
