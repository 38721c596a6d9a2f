"""Every sample event in events/ that is a function's input, fed to the built function
with `sam local invoke`: the answer events/README.md documents, and its effect on the
stack's resources (read back from the moto container through its loopback port)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.events import describe_result, function_inputs
from tests.support.template import project_template

if TYPE_CHECKING:
    from tests.support.sam_local import Invocation, SamLocalStack

FUNCTION_INPUTS = function_inputs()
PYTHON_ERROR_KEYS = ["errorMessage", "errorType", "requestId", "stackTrace"]


def test_every_function_of_the_template_has_a_sample_event() -> None:
    assert {function for function, _ in FUNCTION_INPUTS.values()} == set(project_template().functions)


@pytest.mark.parametrize("name", sorted(FUNCTION_INPUTS))
def test_given_sample_event_when_invoked_in_a_lambda_container_then_documented_result(
    name: str, sam_local: SamLocalStack, sample_invocations: dict[str, Invocation]
) -> None:
    # Given the objects the event names, in the moto container
    # When the event is fed to the built function with `sam local invoke`
    function, expected = FUNCTION_INPUTS[name]
    invocation = sample_invocations[name]
    answer = invocation.answer

    # Then a domain error is reported the way Lambda's Python runtime reports it
    if expected.startswith("raises "):
        assert isinstance(answer, dict)
        assert list(answer) == PYTHON_ERROR_KEYS, answer
        assert f"raises {answer['errorType']}" == expected, answer["errorMessage"]
        _check_failure_effect(sam_local, function, invocation.event)
        return
    # And a result is the documented one, and its effect is in the stack's resources
    assert describe_result(function, answer) == expected
    _check_effect(sam_local, function, answer)


def _check_effect(sam_local: SamLocalStack, function: str, answer: dict[str, Any]) -> None:
    """What the answer says was done is there, as the function in the container left it."""
    s3 = sam_local.endpoint.client("s3")
    if function == "UploadFunction":
        for upload in answer["uploads"]:  # fingerprinted the very version in the bucket
            body = s3.get_object(Bucket=upload["bucket"], Key=upload["key"], VersionId=upload["version_id"])
            assert upload["sha256"] == hashlib.sha256(body["Body"].read()).hexdigest()
    elif function == "ProcessFunction":
        for processed in answer["processed"]:
            item = _item(sam_local, processed["table_name"], processed["table_key"])
            assert item is not None
            assert item["status"]["S"] == processed["status"]
            assert int(item["total_rows"]["N"]) == processed["total_rows"]
    elif function == "AuditFunction":
        audit_bucket = sam_local.stack.buckets["AuditLogBucket"].name
        for ref in answer["entries"]:
            assert ref["bucket"] == audit_bucket
            entry = json.loads(s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read())
            assert entry["upload_id"] == ref["upload_id"]
            assert set(entry["stages"]) >= {"upload", "process"}
    else:
        raise AssertionError(f"no effect to check for {function}")


def _check_failure_effect(sam_local: SamLocalStack, function: str, event: dict[str, Any]) -> None:
    if function != "ProcessFunction":
        return  # the upload stage only reads
    # A rejected batch is recorded before the stage fails (so a retry finds it)
    table = sam_local.stack.tables["ProcessTable"].name
    key = project_template().hash_key("ProcessTable")
    for upload in event["responsePayload"]["uploads"]:
        item = _item(sam_local, table, {key: upload["upload_id"]})
        assert item is not None
        assert item["status"]["S"] == "REJECTED"


def _item(sam_local: SamLocalStack, table: str, key: dict[str, str]) -> dict[str, Any] | None:
    found = sam_local.endpoint.client("dynamodb").get_item(
        TableName=table, Key={name: {"S": value} for name, value in key.items()}
    )
    return found.get("Item")
