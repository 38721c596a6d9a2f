"""Least privilege in the IAM policies we write, checked after the SAM transform (policy
templates such as S3ReadPolicy expand there)."""

from __future__ import annotations

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


def test_given_function_roles_then_no_statement_grants_every_resource(translated: dict[str, Any]) -> None:
    """No inline statement (ours, SAM's policy templates, SAM's destination policies) has
    `*` as a Resource or an Action.

    Out of scope: the AWS managed policies SAM attaches (AWSLambdaBasicExecutionRole,
    AWSXrayWriteOnlyAccess), which AWS writes and which do use `*`; and the KMS key
    policy, a resource policy where `*` means the key itself."""
    offenders = []
    for role_name, role in _roles(translated).items():
        for statement in _statements(role):
            resources = _as_list(statement.get("Resource"))
            actions = _as_list(statement.get("Action"))
            if "*" in resources or any(action == "*" or str(action).endswith(":*") for action in actions):
                offenders.append((role_name, statement))

    assert offenders == []


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
