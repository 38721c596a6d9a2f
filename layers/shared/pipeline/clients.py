"""AWS clients, created on first use (never at import: a test's moto must be active
before a client exists) and reused across invocations of a warm function."""

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def s3() -> "S3Client":
    return _client("s3", os.environ.get("AWS_REGION"), os.environ.get("AWS_ENDPOINT_URL"))


def dynamodb() -> "DynamoDBClient":
    return _client("dynamodb", os.environ.get("AWS_REGION"), os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    # Keyed on region and endpoint so that a runner hosting several functions in one
    # process, or a test switching endpoints, never gets a client aimed elsewhere.
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def reset() -> None:
    """Forget every client (tests call this between moto sessions)."""
    _client.cache_clear()
