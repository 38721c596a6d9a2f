"""The project's own template becomes the Stack the engine runs: expectations are read
from template.yaml itself."""

from __future__ import annotations

from typing import Any

import pytest

from asyncrun.stack.model import Stack
from asyncrun.stack.template import load_stack
from tests.support.template import Template, project_template

TEMPLATE = project_template()


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack(TEMPLATE.path)


def alias_name(template: Template) -> str:
    return str(template.body["Globals"]["Function"]["AutoPublishAlias"])


def expected_destination(stack: Stack, template: Template, destination: dict[str, Any] | None) -> str | None:
    """The ARN a template destination (`!Ref Function.Alias` or `!Ref Topic`) stands for."""
    if destination is None:
        return None
    reference = str(destination["Destination"]["Ref"])
    if reference.endswith(".Alias"):
        return f"{stack.functions[reference.removesuffix('.Alias')].arn}:{alias_name(template)}"
    return stack.topics[reference].arn


def test_every_function_is_loaded_with_its_code_and_layer(stack: Stack) -> None:
    layer_dir = (TEMPLATE.path.parent / str(TEMPLATE.properties("SharedLayer")["ContentUri"])).resolve()

    assert set(stack.functions) == set(TEMPLATE.functions)
    for logical_id, function in stack.functions.items():
        assert function.code_dir.resolve() == TEMPLATE.code_dir(logical_id).resolve()
        assert [path.resolve() for path in function.layer_dirs] == [layer_dir]
        assert function.handler == TEMPLATE.function_property(logical_id, "Handler")
        assert function.runtime == TEMPLATE.function_property(logical_id, "Runtime")
        assert function.timeout == int(TEMPLATE.function_property(logical_id, "Timeout"))
        assert function.memory_size == int(TEMPLATE.function_property(logical_id, "MemorySize"))
        assert function.architectures == (TEMPLATE.parameter("Architecture"),)
        assert function.aliases == {alias_name(TEMPLATE): "1"}
        assert function.versions == ("1",)


def test_function_environment_is_resolved(stack: Stack) -> None:
    for logical_id, function in stack.functions.items():
        assert set(function.environment) == set(TEMPLATE.environment(logical_id))
        assert function.environment["STAGE"] == TEMPLATE.parameter("Stage")
        assert function.environment["IDEMPOTENCY_TABLE_NAME"] == stack.tables["IdempotencyTable"].name


def test_invoke_configs_are_on_the_alias_with_the_template_destinations(stack: Stack) -> None:
    configs = {config.function_name: config for config in stack.invoke_configs}

    assert len(configs) == len(TEMPLATE.functions)
    for logical_id, function in stack.functions.items():
        declared = TEMPLATE.properties(logical_id)["EventInvokeConfig"]
        config = configs[function.name]
        assert config.qualifier == alias_name(TEMPLATE)
        assert config.maximum_retry_attempts == int(TEMPLATE.parameter("MaximumRetryAttempts"))
        assert config.maximum_event_age_seconds == int(TEMPLATE.parameter("MaximumEventAgeInSeconds"))
        destinations = declared["DestinationConfig"]
        assert config.on_success == expected_destination(stack, TEMPLATE, destinations.get("OnSuccess"))
        assert config.on_failure == expected_destination(stack, TEMPLATE, destinations.get("OnFailure"))


def test_parameter_overrides_reach_the_invoke_configs() -> None:
    stack = load_stack(TEMPLATE.path, parameter_overrides={"MaximumRetryAttempts": "0"})

    assert {config.maximum_retry_attempts for config in stack.invoke_configs} == {0}


def test_upload_bucket_notifies_the_upload_alias(stack: Stack) -> None:
    bucket_id = "UploadBucket"
    (declared,) = TEMPLATE.properties(bucket_id)["NotificationConfiguration"]["LambdaConfigurations"]

    bucket = stack.buckets[bucket_id]
    (notification,) = bucket.notifications
    assert notification.function_arn == f"{stack.functions['UploadFunction'].arn}:{alias_name(TEMPLATE)}"
    assert notification.events == (declared["Event"],)
    assert notification.id  # S3 always has one
    assert bucket.name == TEMPLATE.physical_name(bucket_id)
    assert bucket.versioned
    assert not stack.buckets["AuditLogBucket"].notifications


def test_debug_queue_subscribes_to_the_alert_topic_with_raw_delivery(stack: Stack) -> None:
    declared = TEMPLATE.properties("DebugQueueSubscription")

    (subscription,) = [item for item in stack.subscriptions if item.logical_id == "DebugQueueSubscription"]
    assert subscription.protocol == declared["Protocol"]
    assert subscription.topic_arn == stack.topics[declared["TopicArn"]["Ref"]].arn
    assert subscription.endpoint == stack.queues[declared["Endpoint"]["Fn::GetAtt"][0]].arn
    assert subscription.raw_message_delivery is True


def test_the_email_subscription_exists_only_with_an_address() -> None:
    without = load_stack(TEMPLATE.path)
    with_email = load_stack(TEMPLATE.path, parameter_overrides={"AlertEmail": "ops@example.com"})

    assert "AlertEmailSubscription" not in {item.logical_id for item in without.subscriptions}
    (email,) = [item for item in with_email.subscriptions if item.logical_id == "AlertEmailSubscription"]
    assert (email.protocol, email.endpoint) == ("email", "ops@example.com")


def test_tables_keep_their_keys_and_ttl(stack: Stack) -> None:
    for table_id in ("ProcessTable", "IdempotencyTable"):
        key_schema, attributes = TEMPLATE.key_schema(table_id)
        assert stack.tables[table_id].key_schema == key_schema
        assert stack.tables[table_id].attribute_definitions == attributes
    ttl = TEMPLATE.properties("IdempotencyTable")["TimeToLiveSpecification"]["AttributeName"]
    assert stack.tables["IdempotencyTable"].ttl_attribute == ttl
    assert stack.tables["ProcessTable"].ttl_attribute is None


def test_outputs_are_resolved(stack: Stack) -> None:
    assert set(stack.outputs) == set(TEMPLATE.outputs)
    assert stack.outputs["DebugQueueArn"] == stack.queues["DebugQueue"].arn
    assert (
        stack.outputs["ProcessFunctionAliasArn"]
        == f"{stack.functions['ProcessFunction'].arn}:{alias_name(TEMPLATE)}"
    )
    assert stack.outputs["UploadBucketName"] == stack.buckets["UploadBucket"].name
