"""The local copy of a template for `sam local`, and how the sam-local executor reads
start-lambda's answers. Offline: nothing here starts a container."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from asyncrun.cli.main import main
from asyncrun.runtimes.containers import PROVISION_HINT, SamLocalExecutor, attempt_result, engine_problem
from asyncrun.runtimes.samlocal import ENDPOINT_VARIABLE, derive, host_architecture
from asyncrun.stack.model import Stack
from tests.support.template import TEMPLATE_PATH

REQUEST_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
THEIRS = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"

TEMPLATE = textwrap.dedent(
    """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Architecture: {Type: String, Default: arm64}
    Globals:
      Function:
        Runtime: python3.13
        CodeUri: src/shared/
        Architectures: [!Ref Architecture]
    Resources:
      Lib:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: layers/lib/
      First:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Environment:
            Variables:
              TABLE: !Sub "${AWS::StackName}-table"
      Second:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/second/
          Handler: app.handler
      Queue:
        Type: AWS::SQS::Queue
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    template = tmp_path / "project" / "template.yaml"
    for folder in ("src/shared", "src/second", "layers/lib"):
        (template.parent / folder).mkdir(parents=True)
    template.write_text(TEMPLATE)
    return template


def _resources(path: Path) -> dict:
    return json.loads(path.read_text())["Resources"]


def test_the_copy_points_at_the_code_and_declares_the_endpoint(project: Path, tmp_path: Path) -> None:
    # When
    local = derive(
        project, tmp_path / "out", endpoint_url="http://moto:5000", variables={"Second": {"EXTRA": "1"}}
    )

    # Then: code paths are absolute, so the copy runs from anywhere
    document = json.loads(local.path.read_text())
    folder = project.parent.resolve()
    assert document["Globals"]["Function"]["CodeUri"] == str(folder / "src/shared")
    resources = document["Resources"]
    assert resources["Second"]["Properties"]["CodeUri"] == str(folder / "src/second")
    assert resources["Lib"]["Properties"]["ContentUri"] == str(folder / "layers/lib")
    # And every function declares the endpoint (sam passes only declared variables), its
    # own variables kept with their intrinsics
    first = resources["First"]["Properties"]["Environment"]["Variables"]
    assert first == {"TABLE": {"Fn::Sub": "${AWS::StackName}-table"}, ENDPOINT_VARIABLE: "http://moto:5000"}
    second = resources["Second"]["Properties"]["Environment"]["Variables"]
    assert second == {"EXTRA": "1", ENDPOINT_VARIABLE: "http://moto:5000"}
    assert "Environment" not in resources["Queue"].get("Properties", {})
    # And the architecture parameter is the host's; the original is untouched
    assert local.parameter_overrides == {"Architecture": host_architecture()}
    assert local.override_args() == ["--parameter-overrides", f"Architecture={host_architecture()}"]
    assert project.read_text() == TEMPLATE
    assert local.needs_build is False


def test_without_an_architecture_parameter_nothing_is_overridden(project: Path, tmp_path: Path) -> None:
    project.write_text(TEMPLATE.replace("Parameters:\n  Architecture: {Type: String, Default: arm64}\n", ""))

    local = derive(project, tmp_path / "out")

    assert local.parameter_overrides == {}
    assert local.override_args() == []
    assert ENDPOINT_VARIABLE not in json.dumps(json.loads(local.path.read_text()))


LAYER_BUILT = TEMPLATE.replace(
    "ContentUri: layers/lib/", "ContentUri: layers/lib/\n    Metadata: {BuildMethod: python3.13}"
)


@pytest.mark.parametrize(
    "change",
    [
        lambda project: (project.parent / "src/second/requirements.txt").write_text("requests\n"),
        lambda project: project.write_text(LAYER_BUILT),
    ],
    ids=["function-requirements", "layer-build-method"],
)
def test_dependencies_to_install_mean_a_build(project: Path, tmp_path: Path, change) -> None:
    change(project)

    assert derive(project, tmp_path / "out").needs_build is True


def test_the_projects_template_needs_a_build_for_the_hosts_architecture(tmp_path: Path) -> None:
    local = derive(TEMPLATE_PATH, tmp_path / "out", endpoint_url="http://moto:5000")

    assert local.needs_build is True  # the shared layer installs its requirements
    assert local.parameter_overrides == {"Architecture": host_architecture()}


def test_a_function_result_is_a_success() -> None:
    result = attempt_result(b'{"uploads": []}', request_id=REQUEST_ID, timeout=3, duration_ms=5.0)

    assert result.ok
    assert result.payload == b'{"uploads": []}'


def test_an_error_object_is_an_error_with_the_engines_request_id_in_place() -> None:
    # Given the runtime's error object, with the emulator's own request id
    body = json.dumps(
        {"errorMessage": "bad", "errorType": "OrderRejected", "requestId": THEIRS, "stackTrace": ["  File"]}
    ).encode()

    result = attempt_result(body, request_id=REQUEST_ID, timeout=3, duration_ms=5.0)

    assert not result.ok
    assert result.error is not None
    assert list(result.error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert result.error["requestId"] == REQUEST_ID
    assert json.loads(result.payload) == result.error
    assert not result.timed_out


def test_a_runtime_exit_names_the_engines_request_id() -> None:
    body = json.dumps(
        {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {THEIRS} Error: Runtime exited with error: exit status 3",
        }
    ).encode()

    result = attempt_result(body, request_id=REQUEST_ID, timeout=3, duration_ms=5.0)

    assert result.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {REQUEST_ID} Error: Runtime exited with error: exit status 3",
    }


def test_the_emulators_timeout_answer_is_lambdas_sandbox_timedout() -> None:
    result = attempt_result(
        b"Task timed out after 1.00 seconds", request_id=REQUEST_ID, timeout=1, duration_ms=1003.0
    )

    assert result.timed_out
    assert result.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {REQUEST_ID} Error: Task timed out after 1.00 seconds",
    }


def test_a_string_result_that_reads_like_a_timeout_is_still_a_result() -> None:
    result = attempt_result(
        b'"Task timed out after 1.00 seconds"', request_id=REQUEST_ID, timeout=1, duration_ms=2.0
    )

    assert result.ok


def test_a_dead_docker_host_is_reported_with_the_way_to_provision_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")

    problem = engine_problem()

    assert problem is not None
    assert "does not answer" in problem
    assert PROVISION_HINT in problem
    assert "scripts/provision-container-engine.sh" in problem


ECHO = str(Path(__file__).parent / "templates" / "echo.yaml")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["--executor", "sam-local", "--endpoint-url", "http://127.0.0.1:5000", "invoke", "Echo"],
            "functions in containers cannot reach http://127.0.0.1:5000",
        ),
        (
            ["--executor", "sam-local", "--function-endpoint-url", "http://moto:5000", "invoke", "Echo"],
            "--function-endpoint-url needs --endpoint-url",
        ),
        (
            ["serve", "--executor", "sam-local"],
            "serve runs the functions in execution environments of its own",
        ),
    ],
    ids=["loopback-endpoint", "function-endpoint-alone", "serve"],
)
def test_sam_local_options_that_cannot_work_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code = main(["--template", ECHO, *argv])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("asyncrun: error: ")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_a_reset_environment_that_sam_keeps_warm_is_named_in_a_warning(
    echo_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    executor = SamLocalExecutor(
        echo_stack,
        endpoint_url="http://127.0.0.1:1",
        function_endpoint_url="http://moto:5000",
        docker_host="",
    )
    function = echo_stack.functions["Echo"]

    with caplog.at_level("WARNING", logger="asyncrun.runtimes.containers"):
        executor.reset(function)
        executor.reset(function)

    assert caplog.text.count("Echo: its next attempt runs in sam's warm container") == 1
