"""Intrinsic functions and conditions, resolved as CloudFormation does, seen through
the template's Outputs (which `load_stack` resolves)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncrun.stack.template import TemplateError, load_stack

ACCOUNT = "123456789012"
REGION = "us-east-1"

TEMPLATE = """
    Parameters:
      Stage:
        Type: String
        Default: dev
      Names:
        Type: CommaDelimitedList
        Default: "alpha,beta,gamma"
    Mappings:
      Sizes:
        dev: {Memory: 128}
        prod: {Memory: 1024}
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      IsDev: !Not [!Condition IsProd]
      DevAndEast: !And [!Condition IsDev, !Equals [!Ref "AWS::Region", us-east-1]]
      ProdOrWest: !Or [!Condition IsProd, !Equals [!Ref "AWS::Region", us-west-2]]
    Resources:
      Bucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Sub "${AWS::StackName}-data"
      Queue:
        Type: AWS::SQS::Queue
      Fifo:
        Type: AWS::SQS::Queue
        Properties:
          FifoQueue: true
      Topic:
        Type: AWS::SNS::Topic
        Properties:
          TopicName: alerts
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: items
          KeySchema: [{AttributeName: id, KeyType: HASH}]
          AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      Bus:
        Type: AWS::Events::EventBus
        Properties:
          Name: orders
      Key:
        Type: AWS::KMS::Key
      Role:
        Type: AWS::IAM::Role
        Properties:
          RoleName: worker-role
      OnlyInProd:
        Type: AWS::SQS::Queue
        Condition: IsProd
      Function:
        Type: AWS::Lambda::Function
        Properties:
          FunctionName: worker
          Handler: app.handler
          Runtime: python3.13
          Code: src/
          Role: !GetAtt Role.Arn
          MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      FirstVersion:
        Type: AWS::Lambda::Version
        Properties:
          FunctionName: !Ref Function
      SecondVersion:
        Type: AWS::Lambda::Version
        Properties:
          FunctionName: !GetAtt Function.Arn
      Live:
        Type: AWS::Lambda::Alias
        Properties:
          Name: live
          FunctionName: !Ref Function
          FunctionVersion: !GetAtt SecondVersion.Version
    Outputs:
      BucketRef: {Value: !Ref Bucket}
      BucketArn: {Value: !GetAtt Bucket.Arn}
      QueueRef: {Value: !Ref Queue}
      QueueName: {Value: !GetAtt Queue.QueueName}
      QueueUrl: {Value: !GetAtt Queue.QueueUrl}
      QueueArn: {Value: !GetAtt Queue.Arn}
      FifoName: {Value: !GetAtt Fifo.QueueName}
      TopicRef: {Value: !Ref Topic}
      TopicName: {Value: !GetAtt Topic.TopicName}
      TableRef: {Value: !Ref Table}
      TableArn: {Value: !GetAtt Table.Arn}
      StreamArn: {Value: !GetAtt Table.StreamArn}
      BusName: {Value: !GetAtt Bus.Name}
      BusArn: {Value: !GetAtt Bus.Arn}
      KeyRef: {Value: !Ref Key}
      KeyArn: {Value: !GetAtt Key.Arn}
      RoleRef: {Value: !Ref Role}
      FunctionRef: {Value: !Ref Function}
      FunctionArn: {Value: !GetAtt Function.Arn}
      FirstVersionNumber: {Value: !GetAtt FirstVersion.Version}
      SecondVersionRef: {Value: !Ref SecondVersion}
      AliasRef: {Value: !Ref Live}
      Pseudo:
        Value: !Sub "${AWS::StackName}|${AWS::AccountId}|${AWS::Region}|${AWS::Partition}|${AWS::URLSuffix}"
      SubWithAttribute: {Value: !Sub "queue=${Queue.QueueName}"}
      SubWithVariables:
        Value: !Sub
          - "${Greeting}, ${Stage}: ${!NotAVariable}"
          - Greeting: !Join ["", [hel, lo]]
      Joined: {Value: !Join [",", [!Ref Stage, b, !Ref "AWS::NoValue", c]]}
      Selected: {Value: !Select [2, !Ref Names]}
      Split: {Value: !Select [1, !Split ["/", "a/b/c"]]}
      Zone: {Value: !Select [0, !GetAZs ""]}
      Mapped: {Value: !FindInMap [Sizes, prod, Memory]}
      Encoded: {Value: !Base64 "hello"}
      IfDev: {Value: !If [IsDev, dev-value, prod-value]}
      DevAndEast: {Value: !If [DevAndEast, "yes", "no"]}
      ProdOrWest: {Value: !If [ProdOrWest, "yes", "no"]}
      ProdOnly:
        Condition: IsProd
        Value: !Ref OnlyInProd
"""


@pytest.fixture
def outputs(write_template: Callable[..., Path]) -> dict[str, str]:
    return load_stack(write_template(TEMPLATE), stack_name="demo-stack").outputs


def test_ref_and_getatt_give_the_physical_ids_and_arns(outputs: dict[str, str]) -> None:
    queue = outputs["QueueName"]
    assert outputs["BucketRef"] == "demo-stack-data"
    assert outputs["BucketArn"] == "arn:aws:s3:::demo-stack-data"
    assert (
        outputs["QueueRef"] == outputs["QueueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
    )
    assert outputs["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
    assert outputs["FifoName"].endswith(".fifo")
    assert outputs["TopicRef"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    assert outputs["TopicName"] == "alerts"
    assert outputs["TableRef"] == "items"
    assert outputs["TableArn"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/items"
    assert outputs["StreamArn"].startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/items/stream/")
    assert outputs["BusName"] == "orders"
    assert outputs["BusArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
    assert outputs["KeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{outputs['KeyRef']}"
    assert outputs["RoleRef"] == "worker-role"


def test_functions_versions_and_aliases(outputs: dict[str, str]) -> None:
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"
    assert outputs["FunctionRef"] == "worker"
    assert outputs["FunctionArn"] == function_arn
    # Versions are numbered per function in the order they appear.
    assert outputs["FirstVersionNumber"] == "1"
    assert outputs["SecondVersionRef"] == f"{function_arn}:2"
    assert outputs["AliasRef"] == f"{function_arn}:live"


def test_versions_and_aliases_reach_the_function_spec(write_template: Callable[..., Path]) -> None:
    stack = load_stack(write_template(TEMPLATE))

    function = stack.functions["Function"]
    assert function.versions == ("1", "2")
    assert function.aliases == {"live": "2"}
    assert function.memory_size == 128  # FindInMap through the Stage parameter


def test_sub_join_select_split_azs_findinmap_base64(outputs: dict[str, str]) -> None:
    assert outputs["Pseudo"] == f"demo-stack|{ACCOUNT}|{REGION}|aws|amazonaws.com"
    assert outputs["SubWithAttribute"] == f"queue={outputs['QueueName']}"
    assert outputs["SubWithVariables"] == "hello, dev: ${NotAVariable}"
    assert outputs["Joined"] == "dev,b,c"  # AWS::NoValue drops the item
    assert outputs["Selected"] == "gamma"
    assert outputs["Split"] == "b"
    assert outputs["Zone"] == f"{REGION}a"
    assert outputs["Mapped"] == "1024"
    assert base64.b64decode(outputs["Encoded"]) == b"hello"


def test_conditions_choose_values_and_drop_resources(write_template: Callable[..., Path]) -> None:
    path = write_template(TEMPLATE)

    dev = load_stack(path)
    prod = load_stack(path, parameter_overrides={"Stage": "prod"})

    assert (dev.outputs["IfDev"], prod.outputs["IfDev"]) == ("dev-value", "prod-value")
    assert (dev.outputs["DevAndEast"], prod.outputs["DevAndEast"]) == ("yes", "no")
    assert (dev.outputs["ProdOrWest"], prod.outputs["ProdOrWest"]) == ("no", "yes")
    assert "OnlyInProd" not in dev.queues
    assert "ProdOnly" not in dev.outputs
    assert "OnlyInProd" in prod.queues
    assert prod.outputs["ProdOnly"].endswith(prod.queues["OnlyInProd"].name)


def test_no_value_removes_a_property(write_template: Callable[..., Path]) -> None:
    # Given a property set to AWS::NoValue by a false condition
    path = write_template("""
        Parameters:
          Stage: {Type: String, Default: dev}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !If [IsProd, fixed-name, !Ref "AWS::NoValue"]
    """)

    # Then the queue is named as if the property were absent
    assert load_stack(path, stack_name="s").queues["Queue"].name.startswith("s-Queue-")
    assert load_stack(path, parameter_overrides={"Stage": "prod"}).queues["Queue"].name == "fixed-name"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!ImportValue SharedQueueUrl", "Fn::ImportValue .* not supported locally"),
        ("!Ref Nowhere", "Ref to 'Nowhere', which is neither a parameter nor a resource"),
        ("!GetAtt Queue.Colour", "AWS::SQS::Queue has no attribute 'Colour'"),
        ("!Select [5, [a, b]]", "index 5 is outside a list of 2"),
        ("!FindInMap [Missing, a, b]", "Mappings has no Missing.a.b"),
        ("!Sub '${Nowhere.Arn}'", "names no resource 'Nowhere'"),
        ("!Ref OnlyInProd", "OnlyInProd is referenced, but its condition IsProd is false"),
    ],
)
def test_unresolvable_values_are_template_errors(
    write_template: Callable[..., Path], value: str, message: str
) -> None:
    path = write_template(f"""
        Parameters:
          Stage: {{Type: String, Default: dev}}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
        Resources:
          Queue:
            Type: AWS::SQS::Queue
          OnlyInProd:
            Type: AWS::SQS::Queue
            Condition: IsProd
        Outputs:
          Broken:
            Value: {value}
    """)

    with pytest.raises(TemplateError, match=message):
        load_stack(path)


def test_a_reference_cycle_is_reported_with_its_chain(write_template: Callable[..., Path]) -> None:
    # Given two buckets whose names refer to each other
    path = write_template("""
        Resources:
          First:
            Type: AWS::S3::Bucket
            Properties:
              BucketName: !Sub "${Second}-first"
          Second:
            Type: AWS::S3::Bucket
            Properties:
              BucketName: !Sub "${First}-second"
    """)

    with pytest.raises(TemplateError, match="circular reference: First -> Second -> First"):
        load_stack(path)


def test_a_condition_cycle_is_reported(write_template: Callable[..., Path]) -> None:
    path = write_template("""
        Conditions:
          A: !Condition B
          B: !Not [!Condition A]
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Condition: A
    """)

    with pytest.raises(
        TemplateError, match=r"circular reference: Conditions\.A -> Conditions\.B -> Conditions\.A"
    ):
        load_stack(path)


def test_unemulated_resources_still_resolve(write_template: Callable[..., Path]) -> None:
    # Given resources asyncrun does not emulate, referenced from outputs
    path = write_template("""
        Resources:
          Machine:
            Type: AWS::StepFunctions::StateMachine
          Api:
            Type: AWS::ApiGateway::RestApi
          Alarm:
            Type: AWS::CloudWatch::Alarm
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: /custom/group
        Outputs:
          MachineArn: {Value: !GetAtt Machine.Arn}
          ApiRoot: {Value: !GetAtt Api.RootResourceId}
          AlarmArn: {Value: !GetAtt Alarm.Arn}
          GroupArn: {Value: !GetAtt Group.Arn}
    """)

    outputs = load_stack(path, stack_name="s").outputs

    assert outputs["MachineArn"].startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:s-Machine-")
    assert outputs["ApiRoot"].startswith("s-Api-")
    assert outputs["AlarmArn"].startswith(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:s-Alarm-")
    assert outputs["GroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/custom/group:*"
