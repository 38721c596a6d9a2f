"""The pipeline end to end on a deployed stack (or `asyncrun serve`, see conftest.py):
an upload goes in at the top, and the tests look where the stack's Outputs say the
results land — the process table, the audit bucket, the debug queue."""

from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.app.integration.conftest import ROOT, TEMPLATE, Deployment

pytestmark = pytest.mark.integration

SAMPLES = ROOT / "samples"
GOOD_CSV = SAMPLES / "orders-2026-11-01.csv"
REJECTED_CSV = SAMPLES / "orders-rejected.csv"
WAIT_SECONDS = float(os.environ.get("PIPELINE_WAIT_SECONDS", "180"))
# Two retries, 60 s and 120 s apart on AWS, plus the runs and deliveries.
FAILURE_WAIT_SECONDS = float(os.environ.get("PIPELINE_FAILURE_WAIT_SECONDS", "900"))


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (`!Ref`, `!GetAtt`, ...) as plain values."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template() -> dict[str, Any]:
    return dict(yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader))  # noqa: S506 - a SafeLoader


def parameter(deployment: Deployment, name: str) -> str:
    """A stack parameter as deployed, else the template's default."""
    return deployment.parameters.get(name) or str(template()["Parameters"][name]["Default"])


def data_rows(sample: Path) -> int:
    lines = [line for line in sample.read_text().splitlines() if line.strip()]
    return len(lines) - 1  # the header


def upload(deployment: Deployment, sample: Path, folder: str) -> str:
    """Put the sample under a key no other run uses; returns the key."""
    key = f"incoming/integration/{folder}/{uuid.uuid4()}/{sample.name}"
    deployment.client("s3").put_object(
        Bucket=deployment.outputs["UploadBucketName"],
        Key=key,
        Body=sample.read_bytes(),
        ContentType="text/csv",
    )
    return key


def process_item(deployment: Deployment, key: str) -> dict[str, Any] | None:
    """The process-table item of the upload at `key`, if written yet."""
    from boto3.dynamodb.types import TypeDeserializer

    dynamodb = deployment.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=deployment.outputs["ProcessTableName"],
        FilterExpression="#key = :key",
        ExpressionAttributeNames={"#key": "key"},
        ExpressionAttributeValues={":key": {"S": key}},
    )
    for page in pages:
        for item in page.get("Items", []):
            return {name: deserialize(value) for name, value in item.items()}
    return None


def audit_entry(deployment: Deployment, upload_id: str) -> dict[str, Any] | None:
    """The audit entry of an upload: the audit bucket's object named after its id."""
    s3 = deployment.client("s3")
    bucket = deployment.outputs["AuditLogBucketName"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for listed in page.get("Contents", []):
            if listed["Key"].endswith(f"/{upload_id}.json"):
                return dict(json.loads(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()))
    return None


def debug_record(deployment: Deployment, key: str) -> dict[str, Any] | None:
    """The failure record about the upload at `key`, taken off the debug queue; other
    records are left for whoever they belong to."""
    sqs = deployment.client("sqs")
    queue_url = deployment.outputs["DebugQueueUrl"]
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=5
    ).get("Messages", [])
    for message in messages:
        record = json.loads(message["Body"])
        if key in json.dumps(record.get("requestPayload")):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return dict(record)
    return None


def test_a_good_csv_upload_ends_as_a_processed_item_and_an_audit_entry(deployment: Deployment) -> None:
    # Given a well-formed order batch
    rows = data_rows(GOOD_CSV)
    key_attribute = template()["Resources"]["ProcessTable"]["Properties"]["KeySchema"][0]["AttributeName"]

    # When it is uploaded
    key = upload(deployment, GOOD_CSV, "good")

    # Then the process stage records it as processed, with every row counted
    item = deployment.wait_for(
        lambda: process_item(deployment, key), seconds=WAIT_SECONDS, what=f"item for {key}"
    )
    assert item["status"] == "PROCESSED"
    assert item["bucket"] == deployment.outputs["UploadBucketName"]
    assert item["total_rows"] == rows
    assert item["valid_rows"] + item["rejected_rows"] == rows
    assert item["rejected_rows"] <= Decimal(parameter(deployment, "RejectionThreshold")) * rows
    # ... and the audit stage writes one entry for it, with the whole chain
    upload_id = item[key_attribute]
    entry = deployment.wait_for(
        lambda: audit_entry(deployment, upload_id), seconds=WAIT_SECONDS, what=f"audit entry for {key}"
    )
    assert entry["upload"]["key"] == key
    assert entry["outcome"]["status"] == "PROCESSED"
    assert entry["outcome"]["total_rows"] == rows
    function_arns = {stage: entry["stages"][stage]["function_arn"] for stage in ("upload", "process")}
    assert function_arns["process"].startswith(deployment.outputs["ProcessFunctionArn"])
    assert function_arns["upload"].startswith(deployment.outputs["UploadFunctionArn"])


def test_a_batch_with_too_many_invalid_rows_ends_in_the_debug_queue_after_the_retries(
    deployment: Deployment,
) -> None:
    # Given a batch whose share of invalid rows is over the threshold
    retries = int(parameter(deployment, "MaximumRetryAttempts"))

    # When it is uploaded
    key = upload(deployment, REJECTED_CSV, "rejected")

    # Then, once process has failed on every attempt, its record reaches the debug queue
    record = deployment.wait_for(
        lambda: debug_record(deployment, key), seconds=FAILURE_WAIT_SECONDS, what=f"debug record for {key}"
    )
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == retries + 1
    assert context["functionArn"].startswith(deployment.outputs["ProcessFunctionArn"] + ":")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert key in record["responsePayload"]["errorMessage"]
    # ... and the item says why the batch was refused
    item = process_item(deployment, key)
    assert item is not None
    assert item["status"] == "REJECTED"
    assert item["rejected_rows"] > Decimal(parameter(deployment, "RejectionThreshold")) * item["total_rows"]
