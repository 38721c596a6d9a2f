"""The SAM transform, run offline: what SAM generates (versions, aliases, event invoke
configs, subscriptions, rules, notifications) reaches the Stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from asyncrun.stack.model import LATEST
from asyncrun.stack.template import TemplateError, load_stack

TEMPLATE = """
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function:
        CodeUri: src/
        Runtime: python3.13
        Handler: app.handler
    Resources:
      Dlq:
        Type: AWS::SQS::Queue
      Topic:
        Type: AWS::SNS::Topic
      Bus:
        Type: AWS::Events::EventBus
        Properties:
          Name: orders
      Shared:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: layer/
      Plain:
        Type: AWS::Serverless::Function
        Properties:
          Timeout: 1
          ReservedConcurrentExecutions: 0
          Layers: [!Ref Shared, arn:aws:lambda:us-east-1:017000801446:layer:Public:1]
          DeadLetterQueue:
            Type: SQS
            TargetArn: !GetAtt Dlq.Arn
          EventInvokeConfig:
            MaximumRetryAttempts: 1
            MaximumEventAgeInSeconds: 60
            DestinationConfig:
              OnFailure:
                Type: SNS
                Destination: !Ref Topic
          Events:
            FromTopic:
              Type: SNS
              Properties:
                Topic: !Ref Topic
                FilterPolicy:
                  kind: [order]
            FromBus:
              Type: EventBridgeRule
              Properties:
                EventBusName: !Ref Bus
                Pattern:
                  source: [shop]
      Inline:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: !Ref AWS::NoValue
          InlineCode: |
            def handler(event, context):
                return event
          Handler: index.handler
          RecursiveLoop: Allow
"""


@pytest.fixture
def template_path(write_template: Callable[..., Path]) -> Path:
    return write_template(TEMPLATE)


def test_globals_code_uri_and_local_layers_become_folders(template_path: Path) -> None:
    function = load_stack(template_path).functions["Plain"]

    assert function.code_dir == template_path.parent / "src/"
    # The public layer has no local content: only the template's own layer is used.
    assert function.layer_dirs == (template_path.parent / "layer/",)
    assert (function.handler, function.runtime, function.timeout, function.memory_size) == (
        "app.handler",
        "python3.13",
        1,
        128,
    )


def test_reserved_concurrency_dead_letter_queue_and_recursive_loop(template_path: Path) -> None:
    stack = load_stack(template_path)

    plain = stack.functions["Plain"]
    assert plain.reserved_concurrency == 0
    assert plain.dead_letter_target_arn == stack.queues["Dlq"].arn
    assert plain.recursive_loop == "Terminate"
    assert stack.functions["Inline"].recursive_loop == "Allow"


def test_event_invoke_config_without_alias_is_on_latest(template_path: Path) -> None:
    stack = load_stack(template_path)

    (config,) = stack.invoke_configs
    assert config.function_name == stack.functions["Plain"].name
    assert config.qualifier == LATEST
    assert (config.maximum_retry_attempts, config.maximum_event_age_seconds) == (1, 60)
    assert (config.on_success, config.on_failure) == (None, stack.topics["Topic"].arn)


def test_inline_code_is_written_to_index_py(template_path: Path) -> None:
    function = load_stack(template_path).functions["Inline"]

    assert "def handler(event, context)" in (function.code_dir / "index.py").read_text()


def test_sns_events_become_lambda_subscriptions(template_path: Path) -> None:
    stack = load_stack(template_path)

    (subscription,) = stack.subscriptions
    assert subscription.protocol == "lambda"
    assert subscription.endpoint == stack.functions["Plain"].arn
    assert subscription.topic_arn == stack.topics["Topic"].arn
    assert subscription.filter_policy == {"kind": ["order"]}


def test_eventbridge_rule_events_become_rules_on_their_bus(template_path: Path) -> None:
    stack = load_stack(template_path, stack_name="s")

    (rule,) = stack.rules.values()
    assert rule.bus_name == "orders"
    assert rule.event_pattern == {"source": ["shop"]}
    assert [target.arn for target in rule.targets] == [stack.functions["Plain"].arn]
    assert rule.arn == f"arn:aws:events:us-east-1:123456789012:rule/orders/{rule.name}"
    assert set(stack.buses) == {"default", "Bus"}


def test_translator_errors_become_one_template_error(write_template: Callable[..., Path]) -> None:
    path = write_template("""
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Broken:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.handler
              Runtime: python3.13
    """)

    with pytest.raises(TemplateError, match="Broken"):
        load_stack(path)


def test_a_missing_template_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="template not found"):
        load_stack(tmp_path / "nope.yaml")


def test_invalid_yaml_is_a_template_error(write_template: Callable[..., Path]) -> None:
    path = write_template("Resources: [unclosed\n")

    with pytest.raises(TemplateError, match="not valid YAML"):
        load_stack(path)


def test_json_templates_are_read(write_template: Callable[..., Path]) -> None:
    path = write_template(
        '{"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}}}',
        name="template.json",
    )

    assert load_stack(path).queues["Queue"].name == "q"


def test_the_transform_does_not_read_the_users_aws_profile(
    template_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shell whose AWS profile does not exist
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    # When the template is read, Then it translates with the region it was given
    stack = load_stack(template_path, region="eu-west-1")
    assert stack.region == "eu-west-1"
    assert all(":eu-west-1:" in spec.arn for spec in stack.functions.values())
