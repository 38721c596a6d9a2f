"""Faults in a function's AWS calls, at the loopback front: which caller, which service
and operation, and the error each service's SDK client receives for each kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from asyncrun.service.faults import Fault, FaultInjector, parse_fault
from asyncrun.stack.call_faults import Caller, CallFault, caller_of, function_access_key
from asyncrun.stack.endpoint import Endpoint
from tests.support.sockets import loopback_only

REGION = "us-east-1"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    loopback_only()
    with Endpoint(region=REGION) as endpoint:
        yield endpoint


def function_client(endpoint: Endpoint, service: str, function: str = "fn", attempts: int = 1) -> Any:
    """A client signed as the function's execution environment signs (its own key id)."""
    env = endpoint.function_environment(
        separate_process=True, function_name=function, environment_id="5f0e1d2c3b4a6978"
    )
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
    )


def call(client: Any, service: str) -> None:
    calls = {
        "dynamodb": lambda: client.get_item(TableName="t", Key={"pk": {"S": "k"}}),
        "s3": lambda: client.get_object(Bucket="fault-bucket", Key="k"),
        "sns": lambda: client.publish(TopicArn=f"arn:aws:sns:{REGION}:123456789012:t", Message="m"),
        "sqs": lambda: client.send_message(QueueUrl="http://127.0.0.1/123456789012/q", MessageBody="m"),
    }
    calls[service]()


CASES = [
    ("dynamodb", "throttle", "ProvisionedThroughputExceededException", 400),
    ("dynamodb", "unavailable", "ServiceUnavailable", 503),
    ("dynamodb", "error", "InternalServerError", 500),
    ("s3", "throttle", "SlowDown", 503),
    ("s3", "unavailable", "ServiceUnavailable", 503),
    ("s3", "error", "InternalError", 500),
    ("sns", "throttle", "Throttled", 429),
    ("sns", "error", "InternalError", 500),
    ("sqs", "throttle", "RequestThrottled", 400),
    ("sqs", "unavailable", "ServiceUnavailable", 503),
]


@pytest.mark.parametrize(("service", "kind", "code", "status"), CASES, ids=lambda v: str(v))
def test_each_service_client_receives_the_services_own_error(
    endpoint: Endpoint, service: str, kind: str, code: str, status: int
) -> None:
    endpoint.call_faults.add(parse_fault(f"fn:aws:{service}:{kind}"))  # type: ignore[arg-type]
    with pytest.raises(ClientError) as raised:
        call(function_client(endpoint, service), service)
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)


@pytest.mark.parametrize("kind", ["throttle", "unavailable", "error"])
def test_the_sdks_standard_retries_absorb_a_fault_that_stops_in_time(endpoint: Endpoint, kind: str) -> None:
    # Given a fault on the first two requests only
    fault = CallFault("fn", "dynamodb", kind, times=2)  # type: ignore[arg-type]
    endpoint.call_faults.add(fault)
    # When the function's client (standard mode, 3 attempts) calls
    response = function_client(endpoint, "dynamodb", attempts=3).list_tables()
    # Then botocore retried both faulted requests and the third reached moto
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert fault.triggered == 2


def test_a_fault_fails_only_the_named_functions_calls(endpoint: Endpoint) -> None:
    endpoint.call_faults.add(CallFault("fn", "s3", "error"))
    # Another function, and the runner itself, reach moto
    assert function_client(endpoint, "s3", function="other").list_buckets()["Buckets"] == []
    assert endpoint.client("s3").list_buckets()["Buckets"] == []
    with pytest.raises(ClientError, match="InternalError"):
        function_client(endpoint, "s3").list_buckets()


def test_a_fault_fails_only_its_service(endpoint: Endpoint) -> None:
    endpoint.call_faults.add(CallFault("fn", "dynamodb", "throttle"))
    assert function_client(endpoint, "sqs").list_queues().get("QueueUrls", []) == []


# A HEAD response has no body: the SDK reports its status as the code.
@pytest.mark.parametrize(
    ("operation", "faulted", "passed", "code"),
    [
        ("GetObject", "get_object", "head_object", "InternalError"),
        ("HeadObject", "head_object", "get_object", "500"),
        ("PutObject", "put_object", "get_object", "InternalError"),
    ],
)
def test_an_s3_fault_can_name_one_operation(
    endpoint: Endpoint, operation: str, faulted: str, passed: str, code: str
) -> None:
    endpoint.client("s3").create_bucket(Bucket="fault-bucket")
    endpoint.client("s3").put_object(Bucket="fault-bucket", Key="k", Body=b"x")
    endpoint.call_faults.add(parse_fault(f"fn:aws:s3.{operation}:error"))  # type: ignore[arg-type]
    client = function_client(endpoint, "s3")
    getattr(client, passed)(
        **({"Bucket": "fault-bucket", "Key": "k"} | ({"Body": b"y"} if passed == "put_object" else {}))
    )
    with pytest.raises(ClientError) as raised:
        getattr(client, faulted)(
            **({"Bucket": "fault-bucket", "Key": "k"} | ({"Body": b"y"} if faulted == "put_object" else {}))
        )
    assert raised.value.response["Error"]["Code"] == code


def test_json_and_query_protocol_faults_can_name_one_operation(endpoint: Endpoint) -> None:
    endpoint.call_faults.add(parse_fault("fn:aws:dynamodb.PutItem:throttle"))  # type: ignore[arg-type]
    endpoint.call_faults.add(parse_fault("fn:aws:sns.Publish:throttle"))  # type: ignore[arg-type]
    assert function_client(endpoint, "dynamodb").list_tables()["TableNames"] == []
    assert function_client(endpoint, "sns").list_topics()["Topics"] == []
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        function_client(endpoint, "dynamodb").put_item(TableName="t", Item={"pk": {"S": "k"}})
    with pytest.raises(ClientError, match="Throttled"):
        call(function_client(endpoint, "sns"), "sns")


def test_each_execution_environment_signs_with_its_functions_own_key() -> None:
    endpoint = Endpoint(region=REGION)
    env = endpoint.function_environment(
        separate_process=True, function_name="order-Process-1", environment_id="00ff"
    )
    assert env["AWS_ACCESS_KEY_ID"] == function_access_key("order-Process-1", "00ff")
    # The front reads back the function (hyphens and all) and the environment
    scope = f"{env['AWS_ACCESS_KEY_ID']}/20261202/{REGION}/s3/aws4_request"
    signed = {"HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"}
    assert caller_of(signed) == Caller("order-Process-1", "00ff", "s3")  # type: ignore[arg-type]
    without = {"HTTP_AUTHORIZATION": f"Credential={function_access_key('f')}/d/{REGION}/sqs/aws4_request"}
    assert caller_of(without) == Caller("f", None, "sqs")  # type: ignore[arg-type]
    runner = {"HTTP_AUTHORIZATION": f"Credential=asyncrun/d/{REGION}/sqs/aws4_request"}
    assert caller_of(runner) is None  # type: ignore[arg-type]
    # Elsewhere the runner's key stays: nothing over loopback to tell apart
    assert endpoint.function_environment(function_name="f")["AWS_ACCESS_KEY_ID"] == "asyncrun"
    url = Endpoint(url="http://127.0.0.1:5000", region=REGION)
    assert (
        url.function_environment(separate_process=True, function_name="f")["AWS_ACCESS_KEY_ID"] == "asyncrun"
    )


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Process:aws:dynamodb:throttle", CallFault("Process", "dynamodb", "throttle")),
        (
            "Process:aws:dynamodb.PutItem:unavailable:0.5",
            CallFault("Process", "dynamodb", "unavailable", "PutItem", 0.5),
        ),
        ("Upload:aws:S3.GetObject:error::3", CallFault("Upload", "s3", "error", "GetObject", 1.0, 3)),
        ("Process:timeout:1:2", Fault("Process", "timeout", 1.0, 2)),
        ("Process:crash", Fault("Process", "crash")),
    ],
)
def test_parse_fault_reads_function_and_aws_call_faults(text: str, fault: object) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize(
    "text",
    [
        "Process:aws:dynamodb",
        "Process:aws:dynamodb:explode",
        "Process:aws::throttle",
        "Process:aws:s3:error:2",
    ],
)
def test_parse_fault_refuses_malformed_aws_call_faults(text: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        parse_fault(text)


def test_without_the_loopback_front_an_aws_call_fault_is_named_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    injector = FaultInjector(calls=None)
    injector.add(CallFault("fn", "dynamodb", "throttle"))
    assert "fn:aws:dynamodb:throttle is not injected" in caplog.text
    assert "--endpoint-url" in caplog.text
