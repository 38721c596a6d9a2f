"""How the template wires the pipeline: the OnSuccess chain, the failure route, the
asynchronous invocation settings, log groups, outputs and environment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.template import Template, translate

FUNCTIONS = ["UploadFunction", "ProcessFunction", "AuditFunction"]
CHAIN = [("UploadFunction", "ProcessFunction"), ("ProcessFunction", "AuditFunction")]
LAMBDA_DEFAULT_EVENT_AGE = 21600  # what Lambda uses when nothing is set


def _invoke_config(template: Template, function_id: str) -> dict[str, Any]:
    return template.properties(function_id)["EventInvokeConfig"]


def test_given_template_then_functions_are_the_three_stages(template: Template) -> None:
    assert sorted(template.functions) == sorted(FUNCTIONS)


@pytest.mark.parametrize(("source", "target"), CHAIN)
def test_given_stage_then_on_success_invokes_the_next_stage_alias(
    template: Template, translated: dict[str, Any], source: str, target: str
) -> None:
    # The template names the next function's alias ...
    on_success = _invoke_config(template, source)["DestinationConfig"]["OnSuccess"]
    assert on_success == {"Type": "Lambda", "Destination": {"Ref": f"{target}.Alias"}}

    # ... which the transform turns into the alias resource, on the source's alias
    config = translated["Resources"][f"{source}EventInvokeConfig"]["Properties"]
    alias = template.function_property(source, "AutoPublishAlias")
    assert config["DestinationConfig"]["OnSuccess"]["Destination"] == {"Ref": f"{target}Alias{alias}"}
    assert config["Qualifier"] == alias


def test_given_last_stage_then_it_has_no_on_success(template: Template) -> None:
    assert "OnSuccess" not in _invoke_config(template, "AuditFunction")["DestinationConfig"]


def test_given_upload_bucket_then_object_creation_invokes_the_upload_alias(
    template: Template, translated: dict[str, Any]
) -> None:
    resources = translated["Resources"]
    alias = {"Ref": f"UploadFunctionAlias{template.function_property('UploadFunction', 'AutoPublishAlias')}"}
    bucket = resources["UploadBucket"]
    assert bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"] == [
        {"Function": alias, "Event": "s3:ObjectCreated:*"}
    ]

    # S3 may invoke that alias for this bucket of this account only, and the bucket is
    # created after the permission (S3 checks it when the notification is saved)
    (permission_id,) = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Permission" and resource["Properties"]["FunctionName"] == alias
    ]
    permission = resources[permission_id]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    bucket_arn = f"arn:aws:s3:::{template.physical_name('UploadBucket')}"
    assert template.resolve(permission["SourceArn"]) == bucket_arn
    depends_on = bucket["DependsOn"]
    assert permission_id in (depends_on if isinstance(depends_on, list) else [depends_on])


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_given_function_then_on_failure_reaches_alert_topic_and_debug_queue(
    template: Template, function_id: str
) -> None:
    # Given: the function's failure destination
    on_failure = _invoke_config(template, function_id)["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SNS"
    topic = on_failure["Destination"]["Ref"]
    assert template.resources[topic]["Type"] == "AWS::SNS::Topic"

    # Then: the topic feeds a queue, unchanged (raw delivery: the queue holds the record itself)
    subscriptions = [
        properties
        for properties in (template.properties(s) for s in template.of_type("AWS::SNS::Subscription"))
        if properties["TopicArn"] == {"Ref": topic} and properties["Protocol"] == "sqs"
    ]
    (subscription,) = subscriptions
    assert subscription["RawMessageDelivery"] is True
    queue = subscription["Endpoint"]["Fn::GetAtt"][0]
    assert queue == "DebugQueue"

    # And the queue lets that topic (and only it) deliver
    (policy,) = [
        template.properties(p)
        for p in template.of_type("AWS::SQS::QueuePolicy")
        if {"Ref": queue} in template.properties(p)["Queues"]
    ]
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": topic}


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_given_function_then_retries_and_event_age_come_from_parameters(
    template: Template, function_id: str
) -> None:
    config = _invoke_config(template, function_id)

    assert config["MaximumRetryAttempts"] == {"Ref": "MaximumRetryAttempts"}
    assert config["MaximumEventAgeInSeconds"] == {"Ref": "MaximumEventAgeInSeconds"}
    event_age = template.parameters["MaximumEventAgeInSeconds"]
    assert 60 <= int(event_age["Default"]) < LAMBDA_DEFAULT_EVENT_AGE
    assert (event_age["MinValue"], event_age["MaxValue"]) == (60, LAMBDA_DEFAULT_EVENT_AGE)
    retries = template.parameters["MaximumRetryAttempts"]
    assert (retries["MinValue"], retries["MaxValue"]) == (0, 2)


def test_given_parameter_overrides_when_translated_then_invoke_configs_follow_them(
    template: Template,
) -> None:
    translated = translate(template, {"MaximumRetryAttempts": "0", "MaximumEventAgeInSeconds": "120"})

    for function_id in FUNCTIONS:
        config = translated["Resources"][f"{function_id}EventInvokeConfig"]["Properties"]
        assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) in {
            (0, 120),
            ("0", "120"),
        }


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_given_function_then_its_log_group_has_a_retention(template: Template, function_id: str) -> None:
    groups = [
        template.properties(group)
        for group in template.of_type("AWS::Logs::LogGroup")
        if template.properties(group)["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
    ]

    (group,) = groups
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


@pytest.mark.parametrize(
    "resource_type",
    [
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Serverless::Function",
    ],
)
def test_given_resource_then_an_output_names_it(template: Template, resource_type: str) -> None:
    values = [output["Value"] for output in template.outputs.values()]

    for logical_id in template.of_type(resource_type):
        assert {"Ref": logical_id} in values or {"Fn::GetAtt": [logical_id, "Arn"]} in values, logical_id
        if resource_type == "AWS::Serverless::Function":
            assert {"Ref": f"{logical_id}.Alias"} in values, f"{logical_id} alias"


@pytest.mark.parametrize(
    ("function_id", "variables"),
    [
        ("UploadFunction", {"MAX_UPLOAD_BYTES"}),
        ("ProcessFunction", {"PROCESS_TABLE_NAME", "REJECTION_THRESHOLD", "IDEMPOTENCY_TABLE_NAME"}),
        ("AuditFunction", {"AUDIT_BUCKET_NAME", "IDEMPOTENCY_TABLE_NAME"}),
    ],
)
def test_given_function_then_it_gets_the_variables_its_stage_reads(
    template: Template, function_id: str, variables: set[str]
) -> None:
    environment = template.environment(function_id)

    assert variables <= set(environment)
    assert {"STAGE", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(environment)


def test_given_audit_function_then_its_bucket_variable_names_the_audit_bucket(template: Template) -> None:
    assert template.environment("AuditFunction")["AUDIT_BUCKET_NAME"] == template.physical_name(
        "AuditLogBucket"
    )


def test_given_process_function_then_its_table_variable_names_the_process_table(template: Template) -> None:
    environment = template.environment("ProcessFunction")

    assert environment["PROCESS_TABLE_NAME"] == template.physical_name("ProcessTable")
    assert environment["IDEMPOTENCY_TABLE_NAME"] == template.physical_name("IdempotencyTable")


@pytest.mark.parametrize("bucket", ["UploadBucket", "AuditLogBucket"])
def test_given_bucket_then_versioned_and_encrypted(template: Template, bucket: str) -> None:
    properties = template.properties(bucket)

    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_given_shared_layer_then_every_function_uses_it(template: Template) -> None:
    for function_id in FUNCTIONS:
        assert {"Ref": "SharedLayer"} in template.function_property(function_id, "Layers")
    metadata = template.resources["SharedLayer"]["Metadata"]
    # Built by its own Makefile (pip --no-deps: nothing the runtime provides)
    assert metadata["BuildMethod"] == "makefile"
    content = template.path.parent / str(template.properties("SharedLayer")["ContentUri"])
    assert "build-SharedLayer:" in (content / "Makefile").read_text()
    # The layer holds native modules for every architecture the Architecture parameter allows
    assert template.function_property("UploadFunction", "Architectures") == [{"Ref": "Architecture"}]
    allowed = template.parameters["Architecture"]["AllowedValues"]
    assert set(template.properties("SharedLayer")["CompatibleArchitectures"]) == set(allowed)
    assert metadata["BuildArchitecture"] == {"Ref": "Architecture"}


def test_given_alarms_then_they_notify_a_topic_that_does_not_feed_the_debug_queue(template: Template) -> None:
    queue_feeds = {
        template.properties(subscription)["TopicArn"]["Ref"]
        for subscription in template.of_type("AWS::SNS::Subscription")
        if template.properties(subscription)["Protocol"] == "sqs"
    }

    for alarm in template.of_type("AWS::CloudWatch::Alarm"):
        properties = template.properties(alarm)
        actions = properties["AlarmActions"] + properties.get("OKActions", [])
        assert actions, alarm
        for action in actions:
            assert template.resources[action["Ref"]]["Type"] == "AWS::SNS::Topic"
            assert action["Ref"] not in queue_feeds, alarm


def test_given_debug_queue_age_alarm_then_it_also_says_when_the_queue_is_clear(template: Template) -> None:
    (alarm,) = [
        template.properties(alarm)
        for alarm in template.of_type("AWS::CloudWatch::Alarm")
        if template.properties(alarm)["MetricName"] == "ApproximateAgeOfOldestMessage"
    ]

    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DebugQueue", "QueueName"]}}
    ]
    assert alarm["OKActions"] == alarm["AlarmActions"]


def test_given_debug_queue_subscription_then_only_invocation_records_pass_its_filter(
    template: Template,
) -> None:
    subscription = template.properties("DebugQueueSubscription")

    # Every invocation record has requestContext.condition; an alarm notification has not
    assert subscription["FilterPolicyScope"] == "MessageBody"
    assert subscription["FilterPolicy"] == {"requestContext": {"condition": [{"exists": True}]}}
