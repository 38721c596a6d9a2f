"""Least privilege in the IAM policies we write, checked after the SAM transform (policy
templates such as S3ReadPolicy expand there)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.template import Template

AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


def _roles(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    statements = []
    for policy in role.get("Policies", []):
        statement = policy["PolicyDocument"]["Statement"]
        statements.extend(statement if isinstance(statement, list) else [statement])
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_given_translated_template_then_every_function_has_a_role(
    template: Template, translated: dict[str, Any]
) -> None:
    assert set(_roles(translated)) == {f"{function_id}Role" for function_id in template.functions}


# Where a policy document sits in each resource type that has one.
POLICY_DOCUMENTS = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}
# AWS's default key policy statement: the account administers the key and IAM policies
# grant its use. Narrowing it risks a key nobody can manage (KMS's lockout check).
KEY_ADMINISTRATION_SID = "AccountAdministers"
IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _documents(translated: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(resource, kind, policy document) of every policy the template writes: the
    roles' inline policies and the resource policies."""
    documents = []
    for logical_id, resource in translated["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                documents.append((logical_id, kind, policy["PolicyDocument"]))
        elif kind in POLICY_DOCUMENTS:
            documents.append((logical_id, kind, resource["Properties"][POLICY_DOCUMENTS[kind]]))
    return documents


def _allows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(document["Statement"]) if s["Effect"] == "Allow"]


def test_given_any_policy_we_write_then_no_allow_has_a_wildcard(translated: dict[str, Any]) -> None:
    """No Allow statement of ours (roles, SAM's policy templates and destination
    policies, buckets, queue, topics, key) has `*` in an action, a resource or a
    principal. Deny statements may: denying everything over plain HTTP is the point.

    Out of scope: the AWS managed policies SAM attaches (AWSLambdaBasicExecutionRole,
    AWSXrayWriteOnlyAccess), which AWS writes. Allowed: a key policy's resource `*`,
    which means the key itself, and its account-administration statement."""
    offenders = []
    for logical_id, kind, document in _documents(translated):
        for statement in _allows(document):
            actions = [str(action) for action in _as_list(statement.get("Action"))]
            resources = _as_list(statement.get("Resource"))
            principal = statement.get("Principal")
            is_key = kind == "AWS::KMS::Key"
            if is_key and statement.get("Sid") == KEY_ADMINISTRATION_SID:
                assert statement["Principal"] == {
                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                }
                continue
            if any("*" in action for action in actions):
                offenders.append((logical_id, "action", statement))
            if "*" in resources and not is_key:
                offenders.append((logical_id, "resource", statement))
            if principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))):
                offenders.append((logical_id, "principal", statement))

    assert offenders == []


def _grants(translated: dict[str, Any], function_id: str, service: str) -> dict[str, set[str]]:
    """The function role's `service:` actions, by the resource they are granted on."""
    grants: dict[str, set[str]] = {}
    for statement in _statements(translated["Resources"][f"{function_id}Role"]["Properties"]):
        for action in _as_list(statement["Action"]):
            if str(action).startswith(f"{service}:"):
                for resource in _as_list(statement["Resource"]):
                    grants.setdefault(json.dumps(resource, sort_keys=True), set()).add(str(action))
    return grants


def _arn(logical_id: str) -> str:
    return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)


@pytest.mark.parametrize(
    ("function_id", "expected"),
    [
        ("UploadFunction", {}),
        (
            "ProcessFunction",
            {
                "ProcessTable": {"dynamodb:GetItem", "dynamodb:PutItem"},
                "IdempotencyTable": IDEMPOTENCY_ACTIONS,
            },
        ),
        ("AuditFunction", {"IdempotencyTable": IDEMPOTENCY_ACTIONS}),
    ],
)
def test_given_function_role_then_it_may_do_on_each_table_only_what_its_code_does(
    translated: dict[str, Any], function_id: str, expected: dict[str, set[str]]
) -> None:
    assert _grants(translated, function_id, "dynamodb") == {
        _arn(table): actions for table, actions in expected.items()
    }


@pytest.mark.parametrize(
    ("function_id", "actions"),
    [
        ("UploadFunction", {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"}),
        ("ProcessFunction", {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"}),
        ("AuditFunction", {"s3:PutObject"}),
    ],
)
def test_given_function_role_then_its_s3_access_is_what_its_code_does_in_this_accounts_buckets(
    translated: dict[str, Any], function_id: str, actions: set[str]
) -> None:
    statements = [
        statement
        for statement in _statements(translated["Resources"][f"{function_id}Role"]["Properties"])
        if any(str(action).startswith("s3:") for action in _as_list(statement["Action"]))
    ]

    assert {str(action) for statement in statements for action in _as_list(statement["Action"])} == actions
    for statement in statements:
        # What ExpectedBucketOwner checks per call, the role enforces for every call
        assert statement["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}


def test_given_key_policy_then_services_act_only_for_this_stack_in_this_account(template: Template) -> None:
    statements = template.properties("AlertKey")["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s["Principal"]]

    assert services
    for statement in services:
        # The topic is SNS-encrypted; SNS itself needs no grant (the queue uses SSE-SQS)
        assert "sns.amazonaws.com" not in _as_list(statement["Principal"]["Service"])
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        source_arn = template.resolve(statement["Condition"]["ArnLike"]["aws:SourceArn"])
        assert source_arn.endswith(f":alarm:{template.stack_name}-alarm-*")
    # ... and the stack's alarms are the ones that pattern names
    for alarm in template.of_type("AWS::CloudWatch::Alarm"):
        assert template.resolve(template.properties(alarm)["AlarmName"]).startswith(
            f"{template.stack_name}-alarm-"
        )


def _denies_plain_http(statement: dict[str, Any], service: str) -> bool:
    return (
        statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Action"] == f"{service}:*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    )


@pytest.mark.parametrize(
    ("resource_type", "policy_type", "targets", "service"),
    [
        ("AWS::S3::Bucket", "AWS::S3::BucketPolicy", "Bucket", "s3"),
        ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues", "sqs"),
        ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics", "sns"),
    ],
)
def test_given_bucket_queue_or_topic_then_it_refuses_plain_http(
    template: Template, resource_type: str, policy_type: str, targets: str, service: str
) -> None:
    for logical_id in template.of_type(resource_type):
        policies = [
            template.properties(policy)["PolicyDocument"]
            for policy in template.of_type(policy_type)
            if {"Ref": logical_id} in _as_list(template.properties(policy)[targets])
        ]
        (policy,) = policies
        assert any(_denies_plain_http(statement, service) for statement in policy["Statement"]), logical_id


def test_given_audit_bucket_then_every_entry_is_write_once(template: Template) -> None:
    properties = template.properties("AuditLogBucket")

    assert properties["ObjectLockEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    lock = properties["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert retention["Days"] == {"Ref": "AuditRetentionDays"}
    assert retention["Mode"] == {"Fn::If": ["IsProd", "COMPLIANCE", "GOVERNANCE"]}
    assert template.body["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


@pytest.mark.parametrize("function_id", ["UploadFunction", "ProcessFunction", "AuditFunction"])
def test_given_function_then_x_ray_records_no_payload_and_no_error_message(
    template: Template, function_id: str
) -> None:
    environment = template.environment(function_id)

    assert environment["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert environment["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


def test_given_function_roles_then_only_aws_managed_policies_are_attached(translated: dict[str, Any]) -> None:
    for role in _roles(translated).values():
        for arn in role.get("ManagedPolicyArns", []):
            assert isinstance(arn, str)
            assert arn.startswith(AWS_MANAGED_POLICY_PREFIX)


@pytest.mark.parametrize(
    ("function_id", "action", "resource"),
    [
        ("UploadFunction", "lambda:InvokeFunction", {"Ref": "ProcessFunctionAliaslive"}),
        ("ProcessFunction", "lambda:InvokeFunction", {"Ref": "AuditFunctionAliaslive"}),
        ("UploadFunction", "sns:publish", {"Ref": "AlertTopic"}),
        ("ProcessFunction", "sns:publish", {"Ref": "AlertTopic"}),
        ("AuditFunction", "sns:publish", {"Ref": "AlertTopic"}),
        ("AuditFunction", "s3:PutObject", None),
    ],
)
def test_given_destinations_then_each_role_may_deliver_to_its_own(
    translated: dict[str, Any], function_id: str, action: str, resource: Any
) -> None:
    statements = _statements(translated["Resources"][f"{function_id}Role"]["Properties"])

    matching = [s for s in statements if action in _as_list(s["Action"])]

    assert matching, f"{function_id} may not {action}"
    if resource is not None:
        assert any(resource in _as_list(s["Resource"]) for s in matching)
