"""Every Lambda API operation `asyncrun serve` answers, through boto3: shapes, status
codes, headers and errors as botocore's model and the service define them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.runner.api.conftest import CREDENTIALS, REGION, Serve

pytestmark = pytest.mark.server

SUCCEED = json.dumps({"Success": True}).encode()
FAIL = json.dumps({"Success": False}).encode()


def error_of(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


@pytest.fixture
def lam(serve: Serve) -> Any:
    return serve.client("lambda")


@pytest.fixture
def unvalidated_lambda(serve: Serve) -> Any:
    """A client that sends what botocore would refuse (values under a shape's minimum),
    so the server's own validation answers."""
    import boto3

    return boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=serve.url,
        config=Config(parameter_validation=False),
        **CREDENTIALS,
    )


# ---------------------------------------------------------------------- Invoke
def test_event_invoke_answers_202_and_the_record_carries_the_returned_request_id(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    # Given an OnSuccess queue
    lam.put_function_event_invoke_config(
        FunctionName=tester, DestinationConfig={"OnSuccess": {"Destination": destinations["queue"]}}
    )

    # When the function is invoked asynchronously
    response = lam.invoke(FunctionName=tester, InvocationType="Event", Payload=SUCCEED)
    serve.drain()

    # Then 202, an empty payload, no executed version, and the request id is the event's
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert "ExecutedVersion" not in response
    [record] = serve.receive("SuccessQueue")
    assert record["requestContext"]["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert record["responsePayload"]["requestId"] == response["ResponseMetadata"]["RequestId"]


def test_request_response_runs_now_returns_the_payload_and_delivers_no_record(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    # Given destinations for both outcomes
    lam.put_function_event_invoke_config(
        FunctionName=tester,
        DestinationConfig={
            "OnSuccess": {"Destination": destinations["queue"]},
            "OnFailure": {"Destination": destinations["topic"]},
        },
    )

    # When invoked synchronously, once succeeding and once failing
    ok = lam.invoke(FunctionName=tester, Payload=SUCCEED)
    failed = lam.invoke(FunctionName=tester, InvocationType="RequestResponse", Payload=FAIL)
    serve.drain()

    # Then the answers carry the result, the version and the error flag
    assert ok["StatusCode"] == 200
    assert ok["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read())["result"] == "success"
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "Failure from event, Success = false, I am failing!"
    # ... and, as on AWS, destinations are for asynchronous invocations only
    assert serve.receive("SuccessQueue") == []
    assert serve.receive("FailureInbox") == []


def test_dry_run_answers_204_without_running(serve: Serve, lam: Any, tester: str) -> None:
    before = serve.admin("status")["metrics"].get(tester, {}).get("Invocations", 0)

    response = lam.invoke(FunctionName=tester, InvocationType="DryRun", Payload=SUCCEED)

    assert response["StatusCode"] == 204
    assert serve.admin("status")["metrics"].get(tester, {}).get("Invocations", 0) == before


@pytest.mark.parametrize(
    ("name", "qualifier", "executed"),
    [
        ("{name}", None, "$LATEST"),
        ("{name}:$LATEST", None, "$LATEST"),
        ("{name}:live", None, "1"),
        ("{name}", "live", "1"),
        ("{name}", "1", "1"),
        ("{arn}:live", None, "1"),
        ("{arn}", "1", "1"),
        ("{account}:function:{name}:live", None, "1"),
        ("{account}:function:{name}", None, "$LATEST"),
    ],
)
def test_a_qualifier_on_the_name_the_arn_or_the_parameter_selects_the_version(
    serve: Serve, lam: Any, tester: str, name: str, qualifier: str | None, executed: str
) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]
    function = name.format(name=spec.name, arn=spec.arn, account=serve.stack.account_id)
    extra = {"Qualifier": qualifier} if qualifier else {}

    response = lam.invoke(FunctionName=function, Payload=SUCCEED, **extra)

    assert response["ExecutedVersion"] == executed
    assert "FunctionError" not in response


def test_a_config_on_the_alias_applies_to_events_through_the_alias(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    # Given a success queue on the alias only
    lam.put_function_event_invoke_config(
        FunctionName=tester,
        Qualifier="live",
        DestinationConfig={"OnSuccess": {"Destination": destinations["queue"]}},
    )

    # When invoked through the alias and unqualified
    lam.invoke(FunctionName=f"{tester}:live", InvocationType="Event", Payload=SUCCEED)
    lam.invoke(FunctionName=tester, InvocationType="Event", Payload=SUCCEED)
    serve.drain()

    # Then only the alias's event has a record, naming the alias and the version run
    records = serve.receive("SuccessQueue", expected=2)
    assert len(records) == 1
    spec = serve.stack.functions["DestinationTesterFunction"]
    assert records[0]["requestContext"]["functionArn"] == f"{spec.arn}:live"
    assert records[0]["responseContext"]["executedVersion"] == "1"


def test_qualifier_in_the_name_and_a_different_parameter_is_refused(lam: Any, tester: str) -> None:
    status, code, message = error_of(
        lam.invoke, FunctionName=f"{tester}:live", Qualifier="1", Payload=SUCCEED
    )

    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == "The derived qualifier from the function name does not match the specified qualifier."


def test_unknown_function_and_unknown_qualifier_are_not_found(serve: Serve, lam: Any, tester: str) -> None:
    arn_prefix = f"arn:aws:lambda:{REGION}:{serve.stack.account_id}:function"

    assert error_of(lam.invoke, FunctionName="no-such-function", Payload=SUCCEED) == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn_prefix}:no-such-function",
    )
    assert error_of(
        lam.invoke, FunctionName=tester, Qualifier="7", InvocationType="Event", Payload=SUCCEED
    ) == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn_prefix}:{tester}:7",
    )
    # ... and boto3 raises the modeled exception class
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no-such-function", InvocationType="DryRun")


def test_an_event_over_1_mb_is_refused_with_413_and_not_queued(serve: Serve, lam: Any, tester: str) -> None:
    payload = json.dumps({"Success": True, "padding": "x" * 1_048_576}).encode()
    pending_before = serve.admin("status")["pending"]

    status, code, message = error_of(lam.invoke, FunctionName=tester, InvocationType="Event", Payload=payload)

    assert (status, code) == (413, "RequestEntityTooLargeException")
    assert (
        message
        == f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    assert serve.admin("status")["pending"] == pending_before


def test_a_request_response_payload_over_6_mb_is_refused_with_413(lam: Any, tester: str) -> None:
    payload = json.dumps({"padding": "x" * 6_291_456}).encode()

    status, code, message = error_of(lam.invoke, FunctionName=tester, Payload=payload)

    assert (status, code) == (413, "RequestEntityTooLargeException")
    assert message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_an_event_of_exactly_1_mb_is_accepted(serve: Serve, lam: Any, tester: str) -> None:
    head = b'{"Success": true, "padding": "'
    payload = head + b"x" * (1_048_576 - len(head) - 2) + b'"}'

    response = lam.invoke(FunctionName=tester, InvocationType="Event", Payload=payload)

    assert len(payload) == 1_048_576
    assert response["StatusCode"] == 202


def test_an_event_that_is_not_json_is_refused(lam: Any, tester: str) -> None:
    status, code, _ = error_of(lam.invoke, FunctionName=tester, InvocationType="Event", Payload=b"not json")

    assert (status, code) == (400, "InvalidRequestContentException")


def test_errors_carry_the_error_type_header_and_a_user_typed_body(serve: Serve) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{serve.url}/2015-03-31/functions/no-such-function/invocations", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310

    assert caught.value.code == 404
    assert caught.value.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
    body = json.loads(caught.value.read())
    assert body["Type"] == "User"
    assert body["Message"].startswith("Function not found: ")


# ---------------------------------------------------------------------- event invoke config
def test_put_get_list_update_delete_on_the_function_and_the_alias(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]

    # Given a config on $LATEST and one on the alias
    put = lam.put_function_event_invoke_config(
        FunctionName=tester,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destinations["topic"]}},
    )
    on_alias = lam.put_function_event_invoke_config(
        FunctionName=f"{tester}:live", MaximumEventAgeInSeconds=120
    )

    # Then each names its qualifier, echoes what was set, and shows both destination keys
    assert put["FunctionArn"] == f"{spec.arn}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1
    assert "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": destinations["topic"]}}
    assert put["LastModified"].year >= 2025
    assert on_alias["FunctionArn"] == f"{spec.arn}:live"
    assert on_alias["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    got = lam.get_function_event_invoke_config(FunctionName=tester)
    assert {k: got[k] for k in ("FunctionArn", "MaximumRetryAttempts", "DestinationConfig")} == {
        k: put[k] for k in ("FunctionArn", "MaximumRetryAttempts", "DestinationConfig")
    }
    listed = lam.list_function_event_invoke_configs(FunctionName=tester)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == sorted([f"{spec.arn}:$LATEST", f"{spec.arn}:live"])

    # When updated: the members given change, the others stay
    updated = lam.update_function_event_invoke_config(FunctionName=tester, MaximumEventAgeInSeconds=600)
    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 600
    assert updated["DestinationConfig"] == put["DestinationConfig"]

    # When put again: replaced as a whole
    replaced = lam.put_function_event_invoke_config(FunctionName=tester, MaximumEventAgeInSeconds=60)
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert "MaximumRetryAttempts" not in replaced

    # When deleted: gone, the alias's kept
    lam.delete_function_event_invoke_config(FunctionName=tester)
    status, code, message = error_of(lam.get_function_event_invoke_config, FunctionName=tester)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"The function {spec.arn}:$LATEST doesn't have an EventInvokeConfig"
    assert lam.get_function_event_invoke_config(FunctionName=tester, Qualifier="live")["FunctionArn"] == (
        f"{spec.arn}:live"
    )


def test_update_and_delete_of_a_missing_config_are_not_found(serve: Serve, lam: Any, tester: str) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]
    missing = f"The function {spec.arn}:$LATEST doesn't have an EventInvokeConfig"

    assert error_of(lam.update_function_event_invoke_config, FunctionName=tester, MaximumRetryAttempts=0) == (
        404,
        "ResourceNotFoundException",
        missing,
    )
    assert error_of(lam.delete_function_event_invoke_config, FunctionName=tester) == (
        404,
        "ResourceNotFoundException",
        missing,
    )
    assert error_of(
        lam.put_function_event_invoke_config, FunctionName="no-such-function", MaximumRetryAttempts=0
    ) == (
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    )


@pytest.mark.parametrize(
    ("members", "code", "message"),
    [
        (
            {"MaximumRetryAttempts": 3},
            "ValidationException",
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value less than or equal to 2",
        ),
        (
            {"MaximumEventAgeInSeconds": 21601},
            "ValidationException",
            "1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy "
            "constraint: Member must have value less than or equal to 21600",
        ),
        (
            {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 30},
            "ValidationException",
            "2 validation errors detected: Value '5' at 'maximumRetryAttempts' failed to satisfy constraint: "
            "Member must have value less than or equal to 2; Value '30' at 'maximumEventAgeInSeconds' failed "
            "to satisfy constraint: Member must have value greater than or equal to 60",
        ),
        (
            {},
            "InvalidParameterValueException",
            "You must specify at least one of error handling or destination setting.",
        ),
    ],
)
def test_out_of_range_or_empty_configs_are_refused_with_the_service_message(
    unvalidated_lambda: Any, tester: str, members: dict[str, int], code: str, message: str
) -> None:
    status, got_code, got_message = error_of(
        unvalidated_lambda.put_function_event_invoke_config, FunctionName=tester, **members
    )

    assert (status, got_code, got_message) == (400, code, message)


def test_destinations_the_service_refuses_are_refused(serve: Serve, lam: Any, tester: str) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]
    bucket = "arn:aws:s3:::some-bucket"
    missing_function = f"arn:aws:lambda:{REGION}:{serve.stack.account_id}:function:no-such-function"

    itself = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=tester,
        DestinationConfig={"OnFailure": {"Destination": f"{spec.arn}:live"}},
    )
    s3_on_success = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=tester,
        DestinationConfig={"OnSuccess": {"Destination": bucket}},
    )
    unknown_function = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=tester,
        DestinationConfig={"OnSuccess": {"Destination": missing_function}},
    )

    assert itself == (
        400,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    )
    assert s3_on_success == (
        400,
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={bucket}), "
        "onFailure=null) is invalid.",
    )
    assert unknown_function == (
        400,
        "InvalidParameterValueException",
        f"The destination ARN {missing_function} is invalid.",
    )
    # ... and nothing was stored
    assert lam.list_function_event_invoke_configs(FunctionName=tester)["FunctionEventInvokeConfigs"] == []


def test_a_config_put_through_the_api_governs_the_next_event(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    # Given one retry and a failure destination
    lam.put_function_event_invoke_config(
        FunctionName=tester,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destinations["topic"]}},
    )

    # When a failing event is queued and the clock skips the retry wait
    lam.invoke(FunctionName=tester, InvocationType="Event", Payload=FAIL)
    serve.drain()

    # Then it ran twice before the record went to the topic
    [notification] = serve.receive("FailureInbox")
    record = json.loads(notification["Message"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2


def test_advancing_the_virtual_clock_runs_a_retry_when_it_falls_due(
    serve: Serve, lam: Any, tester: str, destinations: dict[str, str]
) -> None:
    # Given a failing event whose first attempt ran, with one retry allowed
    lam.put_function_event_invoke_config(
        FunctionName=tester,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destinations["topic"]}},
    )
    lam.invoke(FunctionName=tester, InvocationType="Event", Payload=FAIL)
    serve.admin("advance", {"seconds": 0})

    # When the clock moves 50 s, Then the retry (due about 60 s after the failure) waits
    assert serve.admin("advance", {"seconds": 50})["processed"] == 0
    assert serve.receive("FailureInbox") == []

    # When it moves past the retry, Then the retry runs and the record is delivered
    assert serve.admin("advance", {"seconds": 15})["processed"] == 1
    [notification] = serve.receive("FailureInbox")
    assert json.loads(notification["Message"])["requestContext"]["approximateInvokeCount"] == 2


# ---------------------------------------------------------------------- functions, versions, aliases
def test_functions_versions_and_aliases_describe_the_template(serve: Serve, lam: Any) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]

    functions = lam.list_functions()["Functions"]
    function = lam.get_function(FunctionName=spec.name)
    through_alias = lam.get_function_configuration(FunctionName=spec.name, Qualifier="live")
    versions = lam.list_versions_by_function(FunctionName=spec.name)["Versions"]
    aliases = lam.list_aliases(FunctionName=spec.name)["Aliases"]
    alias = lam.get_alias(FunctionName=spec.name, Name="live")

    assert [f["FunctionName"] for f in functions] == [spec.name]
    configuration = function["Configuration"]
    assert configuration["FunctionArn"] == spec.arn
    assert (configuration["Runtime"], configuration["Handler"]) == (spec.runtime, spec.handler)
    assert (configuration["Timeout"], configuration["MemorySize"]) == (spec.timeout, spec.memory_size)
    assert (configuration["Version"], configuration["State"], configuration["LastUpdateStatus"]) == (
        "$LATEST",
        "Active",
        "Successful",
    )
    assert configuration["Architectures"] == list(spec.architectures)
    assert (through_alias["FunctionArn"], through_alias["Version"]) == (f"{spec.arn}:live", "1")
    assert [v["Version"] for v in versions] == ["$LATEST", *spec.versions]
    assert [(a["Name"], a["FunctionVersion"], a["AliasArn"]) for a in aliases] == [
        ("live", "1", f"{spec.arn}:live")
    ]
    assert (alias["Name"], alias["FunctionVersion"]) == ("live", "1")
    assert error_of(lam.get_alias, FunctionName=spec.name, Name="nope") == (
        404,
        "ResourceNotFoundException",
        f"Cannot find alias arn: {spec.arn}:nope",
    )


def test_the_stand_in_stack_has_the_template_outputs_with_reachable_queue_urls(serve: Serve) -> None:
    stack = serve.client("cloudformation").describe_stacks(StackName=serve.stack.name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    assert set(outputs) == set(serve.stack.outputs)
    assert outputs["TesterFunctionArn"] == serve.stack.functions["DestinationTesterFunction"].arn
    attributes = serve.client("sqs").get_queue_attributes(
        QueueUrl=outputs["SuccessQueueUrl"], AttributeNames=["QueueArn"]
    )
    assert attributes["Attributes"]["QueueArn"] == serve.stack.queues["SuccessQueue"].arn


def test_other_services_and_unimplemented_lambda_operations_reach_moto(serve: Serve, lam: Any) -> None:
    spec = serve.stack.functions["DestinationTesterFunction"]
    s3 = serve.client("s3")

    # Given a bucket named like a Lambda API version path
    s3.create_bucket(Bucket="2015-03-31")
    s3.put_object(Bucket="2015-03-31", Key="functions/x", Body=b"kept by S3")

    # Then S3 answers for it, and a Lambda operation serve does not implement reaches moto's Lambda
    assert s3.get_object(Bucket="2015-03-31", Key="functions/x")["Body"].read() == b"kept by S3"
    assert "Tags" in lam.list_tags(Resource=spec.arn)
