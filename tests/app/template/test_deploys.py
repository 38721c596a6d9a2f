"""What a deploy changes: the published versions behind `live`, the log levels Lambda
applies, the names and fate of the stack's data, and the build that gets deployed."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import io
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.template import Template, translate

FUNCTIONS = ["UploadFunction", "ProcessFunction", "AuditFunction"]
# Lambda's LoggingConfig values (API reference, LoggingConfig)
LAMBDA_APPLICATION_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
LAMBDA_SYSTEM_LOG_LEVELS = {"DEBUG", "INFO", "WARN"}
# CloudFormation: a stack name is up to 128 letters, digits and hyphens, starting with a letter
LONGEST_STACK_NAME = "Orders-" + "X" * 121
ALARM_NAME_LIMIT = 255
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
CHECK_SCRIPT = SCRIPTS / "check_deploy_architecture.py"


def _versions(translated: dict[str, Any]) -> dict[str, str]:
    """Each function's published version resource (its logical id carries the hash)."""
    return {
        resource["Properties"]["FunctionName"]["Ref"]: logical_id
        for logical_id, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Version"
    }


def _resolved_text(template: Template, value: Any) -> str | None:
    """The value resolved offline, or None for what only CloudFormation knows (an ARN)."""
    try:
        return str(template.resolve(value))
    except ValueError:
        return None


def _edited(template: Template, edit: Any) -> Template:
    body = copy.deepcopy(template.body)
    edit(body)
    return dataclasses.replace(template, body=body)


# ---------------------------------------------------------------------- versions behind `live`
def test_given_new_layer_content_when_translated_then_every_function_publishes_a_new_version(
    template: Template, translated: dict[str, Any]
) -> None:
    # Given: the layer built anew (sam build/package give its content a new S3 key)
    def new_layer(body: dict[str, Any]) -> None:
        body["Resources"]["SharedLayer"]["Properties"]["ContentUri"] = "layers/shared-rebuilt/"

    # When
    after = _versions(translate(_edited(template, new_layer)))

    # Then: every function's version is a new resource, so `live` moves to the new layer
    before = _versions(translated)
    assert set(before) == set(after) == set(FUNCTIONS)
    assert all(after[function] != before[function] for function in FUNCTIONS)


def test_given_a_timeout_change_when_translated_then_that_function_publishes_a_new_version(
    template: Template, translated: dict[str, Any]
) -> None:
    def longer_upload_timeout(body: dict[str, Any]) -> None:
        body["Resources"]["UploadFunction"]["Properties"]["Timeout"] += 1

    after = _versions(translate(_edited(template, longer_upload_timeout)))

    before = _versions(translated)
    assert after["UploadFunction"] != before["UploadFunction"]
    assert after["ProcessFunction"] == before["ProcessFunction"]
    assert after["AuditFunction"] == before["AuditFunction"]


def test_given_only_a_parameter_value_change_when_translated_then_versions_stay(
    template: Template, translated: dict[str, Any]
) -> None:
    """SAM hashes the properties as written, before parameters are resolved: a new
    parameter value alone publishes nothing (the README's Deploying section says what to
    do). If this starts failing, SAM has changed and the README can drop that note."""
    after = _versions(translate(template, {"LogLevel": "DEBUG", "MaxUploadBytes": "1024"}))

    assert after == _versions(translated)


# ---------------------------------------------------------------------- log levels
def test_given_log_level_then_lambda_filters_application_and_system_logs_with_its_own_names(
    template: Template, translated: dict[str, Any]
) -> None:
    allowed = template.parameters["LogLevel"]["AllowedValues"]
    assert set(allowed) <= LAMBDA_APPLICATION_LOG_LEVELS
    system_levels = template.body["Mappings"]["SystemLogLevel"]
    assert set(system_levels) == set(allowed)
    assert {entry["Level"] for entry in system_levels.values()} <= LAMBDA_SYSTEM_LOG_LEVELS

    for function in FUNCTIONS:
        logging_config = translated["Resources"][function]["Properties"]["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON"
        assert logging_config["ApplicationLogLevel"] == {"Ref": "LogLevel"}
        assert logging_config["SystemLogLevel"] == {
            "Fn::FindInMap": ["SystemLogLevel", {"Ref": "LogLevel"}, "Level"]
        }


# ---------------------------------------------------------------------- names and data
@pytest.mark.parametrize("stack_name", [LONGEST_STACK_NAME, "a"])
def test_given_any_stack_name_then_every_bucket_name_is_valid_and_the_roles_name_it(
    template: Template, stack_name: str
) -> None:
    stack = dataclasses.replace(template, stack_name=stack_name)

    for bucket_id, bucket in stack.of_type("AWS::S3::Bucket").items():
        if "BucketName" not in bucket["Properties"]:
            continue  # named by CloudFormation
        name = stack.physical_name(bucket_id)
        assert BUCKET_NAME.fullmatch(name), name
        assert ".." not in name
        assert stack.stack_uuid in name  # made up by CloudFormation: nothing a squatter can know first
        # The roles and the invoke permission name the bucket by the same text
        texts = [
            _resolved_text(stack, statement["Resource"])
            for function in FUNCTIONS
            for policy in stack.properties(function)["Policies"]
            for statement in policy.get("Statement", [])
            if "s3:" in str(statement["Action"])
        ]
        assert f"arn:aws:s3:::{name}" in texts
        assert f"arn:aws:s3:::{name}/*" in texts
    # Alarm names carry the stack name (the key's and the alarm topic's policies match on it)
    for alarm in stack.of_type("AWS::CloudWatch::Alarm"):
        assert len(stack.resolve(stack.properties(alarm)["AlarmName"])) <= ALARM_NAME_LIMIT


def test_given_two_stacks_then_their_bucket_names_differ(template: Template) -> None:
    other = dataclasses.replace(template, stack_uuid="7d3b9e1c-2a4f-4c6e-8b0d-5f1e3a9c7b2d")

    for bucket_id, bucket in template.of_type("AWS::S3::Bucket").items():
        if "BucketName" in bucket["Properties"]:
            assert template.physical_name(bucket_id) != other.physical_name(bucket_id)


@pytest.mark.parametrize(
    ("resource_type", "policy"),
    [("AWS::S3::Bucket", "Retain"), ("AWS::DynamoDB::Table", None)],
)
def test_given_stored_data_then_stack_deletion_and_replacement_decide_its_fate(
    template: Template, resource_type: str, policy: str | None
) -> None:
    for logical_id, resource in template.of_type(resource_type).items():
        expected = policy or ("Delete" if logical_id == "IdempotencyTable" else "Retain")
        assert resource.get("DeletionPolicy") == expected, logical_id
        assert resource.get("UpdateReplacePolicy") == expected, logical_id


# ---------------------------------------------------------------------- the build that is deployed
def _fake_build(folder: Path, machine: str) -> Path:
    (folder / "template.yaml").parent.mkdir(parents=True, exist_ok=True)
    (folder / "template.yaml").write_text("Resources: {}\n")
    extension = (
        folder
        / "SharedLayer"
        / "python"
        / "pydantic_core"
        / f"_pydantic_core.cpython-313-{machine}-linux-gnu.so"
    )
    extension.parent.mkdir(parents=True)
    extension.write_bytes(b"")
    return folder


def _check(build_dir: Path, template: Template, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(CHECK_SCRIPT),
            "--build-dir",
            str(build_dir),
            "--template",
            str(template.path),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_given_a_build_for_local_containers_when_deploying_then_the_check_stops_it(
    template: Template, tmp_path: Path
) -> None:
    result = _check(_fake_build(tmp_path / "build", "x86_64"), template)

    assert result.returncode == 1
    assert "arm64" in result.stderr
    assert "make build-local" in result.stderr


def test_given_a_build_for_the_stacks_architecture_when_deploying_then_the_check_passes(
    template: Template, tmp_path: Path
) -> None:
    assert template.parameter("Architecture") == "arm64"

    result = _check(_fake_build(tmp_path / "build", "aarch64"), template, "--config-env", "prod")

    assert result.returncode == 0, result.stderr


def test_given_a_layer_for_both_architectures_when_deploying_then_the_check_passes(
    template: Template, tmp_path: Path
) -> None:
    build = _fake_build(tmp_path / "build", "x86_64")
    both = (
        build / "SharedLayer" / "python" / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so"
    )
    both.write_bytes(b"")

    assert _check(build, template).returncode == 0


def test_given_the_stack_when_asked_then_the_check_prints_its_architecture(template: Template) -> None:
    printed = subprocess.run(
        [sys.executable, str(CHECK_SCRIPT), "--print-architecture"],
        cwd=template.path.parent,
        capture_output=True,
        text=True,
        check=True,
    )

    assert printed.stdout.strip() == "arm64"


def test_given_no_build_when_deploying_then_the_check_stops_it(template: Template, tmp_path: Path) -> None:
    assert _check(tmp_path / "missing", template).returncode == 1


def test_given_local_and_deploy_builds_then_they_never_share_a_folder(template: Template) -> None:
    makefile = (template.path.parent / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+) := (\S+)$", makefile, flags=re.MULTILINE))
    samconfig = tomllib.loads((template.path.parent / "samconfig.toml").read_text())

    # sam deploy reads .aws-sam/build; make build writes there, make build-local elsewhere
    assert variables["BUILD_DIR"] == ".aws-sam/build"
    assert variables["LOCAL_BUILD_DIR"] != variables["BUILD_DIR"]
    assert re.search(
        r"^build-local:.*\n\tLAYER_ARCHITECTURES=x86_64 sam build --build-dir \$\(LOCAL_BUILD_DIR\) "
        r".*Architecture=x86_64",
        makefile,
        re.M,
    )
    assert re.search(r"^deploy: build .*\n\t\$\(PY\) scripts/check_deploy_architecture.py", makefile, re.M)
    # sam local reads the local build only
    for command in ("local_invoke", "local_start_lambda"):
        parameters = samconfig["default"][command]["parameters"]
        assert parameters["template_file"] == f"{variables['LOCAL_BUILD_DIR']}/template.yaml"
        assert "Architecture=x86_64" in parameters["parameter_overrides"]
    # and no deploy environment builds or deploys another architecture than the template's
    for environment in (value for value in samconfig.values() if isinstance(value, dict)):
        for command in ("build", "deploy"):
            assert "Architecture" not in environment.get(command, {}).get("parameters", {}).get(
                "parameter_overrides", ""
            )


# ---------------------------------------------------------------------- after the deploy
def _live_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_live_is_latest", SCRIPTS / "check_live_is_latest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_given_a_parameter_only_deploy_then_the_live_check_names_what_live_lacks(
    aws: None, template: Template
) -> None:
    import boto3

    # Given: a function deployed with its alias on a published version
    iam = boto3.client("iam", region_name=template.region)
    role = iam.create_role(RoleName="upload", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    lambda_client = boto3.client("lambda", region_name=template.region)
    lambda_client.create_function(
        FunctionName="upload",
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=60,
        Environment={"Variables": {"MAX_UPLOAD_BYTES": "52428800"}},
    )
    version = lambda_client.publish_version(FunctionName="upload")["Version"]
    lambda_client.create_alias(FunctionName="upload", Name="live", FunctionVersion=version)
    check = _live_check()
    assert check.behind(lambda_client, ["upload"], "live") == {}

    # When: a deploy changes only $LATEST (what a new parameter value does)
    lambda_client.update_function_configuration(
        FunctionName="upload", Timeout=61, Environment={"Variables": {"MAX_UPLOAD_BYTES": "1024"}}
    )

    # Then the check names the function and what its alias lacks
    lagging = check.behind(lambda_client, ["upload"], "live")
    assert lagging == {"upload": ["Environment", "Timeout"]}
    assert "update-alias --name live" in check.report(lagging, "live")

    # And once a version is published and the alias moved, all is well again
    newer = lambda_client.publish_version(FunctionName="upload")["Version"]
    lambda_client.update_alias(FunctionName="upload", Name="live", FunctionVersion=newer)
    assert check.behind(lambda_client, ["upload"], "live") == {}


def test_given_make_deploy_then_it_checks_live_after_deploying() -> None:
    makefile = (SCRIPTS.parent / "Makefile").read_text()

    deploy = re.search(r"^deploy:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert deploy is not None
    steps = deploy.group(1).splitlines()
    assert steps[-2].strip().startswith("sam deploy")
    assert "scripts/check_live_is_latest.py" in steps[-1]
