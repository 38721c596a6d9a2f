"""The stack's storage in moto, created from the template's own definitions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.template import Template

# invoke(function_id, event, *, request_id=None, account_id=None) -> the handler's return
Invoke = Callable[..., Any]
Upload = Callable[
    ..., dict[str, Any]
]  # upload_record(key, body, *, request_id=None) -> upload's Success record


@dataclass(frozen=True)
class StackStorage:
    upload_bucket: str
    audit_bucket: str
    process_table: str
    idempotency_table: str


def create_bucket(template: Template, logical_id: str) -> str:
    import boto3

    name = template.physical_name(logical_id)
    s3 = boto3.client("s3", region_name=template.region)
    s3.create_bucket(Bucket=name)
    versioning = template.properties(logical_id).get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
    return name


def create_table(template: Template, logical_id: str) -> str:
    import boto3

    name = template.physical_name(logical_id)
    properties = template.properties(logical_id)
    dynamodb = boto3.client("dynamodb", region_name=template.region)
    dynamodb.create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
        )
    return name
