"""Asynchronous sources: what the template asks for and the runner cannot do is said
at provisioning, naming the gap; schedules on the command line with --run-for."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncrun.cli.main import main
from asyncrun.runtimes import default_executor
from asyncrun.service.engine import Engine
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.provision import provision
from asyncrun.stack.template import load_stack

ECHO_CODE = Path(__file__).parent / "templates" / "functions" / "echo"

GAPS = f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  Inbox:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Jobs.Arn
  Jobs:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Hook:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: https
      Endpoint: https://example.com/hook
  Direct:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: lambda
      Endpoint: !GetAtt Echo.Arn
      RedrivePolicy: {{deadLetterTargetArn: !GetAtt Jobs.Arn}}
  Flow:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {{source: [shop]}}
      Targets:
        - Id: machine
          Arn: arn:aws:states:us-east-1:123456789012:stateMachine:orders
        - Id: fn
          Arn: !GetAtt Echo.Arn
          RetryPolicy: {{MaximumRetryAttempts: 1}}
  Nightly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - Id: queue
          Arn: !GetAtt Jobs.Arn
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {ECHO_CODE}
      Handler: app.handler
      Runtime: python3.13
      Events:
        Tagged:
          Type: S3
          Properties:
            Bucket: !Ref Inbox
            Events: s3:ObjectTagging:*
        LastDay:
          Type: Schedule
          Properties:
            Schedule: cron(0 12 L * ? *)
        Loose:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            FlexibleTimeWindow: {{Mode: FLEXIBLE, MaximumWindowInMinutes: 15}}
        Polled:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
"""


def test_every_gap_is_named_in_a_warning_at_provisioning(
    write_template: Callable[..., Path], endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncrun")
    stack = load_stack(write_template(GAPS), stack_name="gaps", region="us-east-1")
    provision(stack, endpoint)
    Engine(stack, endpoint, executor=default_executor(stack, endpoint))
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for gap in (
        "QueueConfigurations are not set up locally",
        "protocol https, https://example.com/hook) is not delivered locally",
        "target machine (arn:aws:states:",
        "scheduled target queue",
        "RetryPolicy is not applied locally",
        "SNS subscription Direct: RedrivePolicy is not applied locally",
        "S3 event s3:ObjectTagging:* is not notified locally",
        "the L, W and # cron wildcards are not supported locally",
        "FlexibleTimeWindow is not applied locally",
        "event source mappings (SQS, Kinesis, DynamoDB streams...) are not emulated",
    ):
        assert gap in warnings, gap


SCHEDULED = f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {ECHO_CODE}
      Handler: app.handler
      Runtime: python3.13
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(10 minutes)
"""


def test_run_for_an_hour_fires_a_ten_minute_schedule_six_times(
    write_template: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    template = str(write_template(SCHEDULED))
    assert main(["--template", template, "run", "--run-for", "1h", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["attempts"]) == 6
    assert all(attempt["outcome"] == "success" for attempt in report["attempts"])


def test_an_invoke_without_run_for_ends_when_idle_without_waiting_for_a_schedule(
    write_template: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    template = str(write_template(SCHEDULED))
    assert main(["--template", template, "invoke", "Echo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["attempts"]) == 1
