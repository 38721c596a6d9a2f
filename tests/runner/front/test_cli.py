"""The command line: exit codes, one-line errors, options before or after the
subcommand, and the --json report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncrun.cli.main import main, parse_args
from asyncrun.cli.options import expand_overrides_argv
from asyncrun.service.limits import EVENT_PAYLOAD_LIMIT as ASYNC_PAYLOAD_LIMIT

ECHO = str(Path(__file__).parent / "templates" / "echo.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return dict(json.loads(out))


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("asyncrun: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_missing_template_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--template", str(tmp_path / "missing.yaml"), "invoke", "Echo")

    assert_one_line_error(code, err, "template not found")


def test_bad_parameter_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "invoke", "Echo", "--template", ECHO, "--parameter-overrides", "Mode=loud")

    assert_one_line_error(code, err, "parameter Mode: 'loud' is not one of the allowed values")


def test_unknown_function_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--template", ECHO, "invoke", "Nobody")

    assert_one_line_error(code, err, "ResourceNotFoundException: Function not found")


def test_payload_over_one_megabyte_is_refused_with_413(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a JSON payload one byte over the asynchronous limit
    payload = tmp_path / "big.json"
    payload.write_text(json.dumps({"data": "x" * (ASYNC_PAYLOAD_LIMIT - 11)}))
    assert payload.stat().st_size == ASYNC_PAYLOAD_LIMIT + 1

    code, _, err = run(capsys, "--template", ECHO, "invoke", "Echo", "--payload-file", str(payload))

    assert_one_line_error(code, err, "RequestEntityTooLargeException")
    assert str(ASYNC_PAYLOAD_LIMIT) in err


def test_a_refused_destination_config_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], write_template: Callable[..., Path]
) -> None:
    # Given a function configured as its own destination
    path = write_template("""
        Resources:
          Role: {Type: AWS::IAM::Role}
          Loop:
            Type: AWS::Lambda::Function
            Properties: {Code: src/, Handler: app.handler, Runtime: python3.13, Role: !GetAtt Role.Arn}
          LoopConfig:
            Type: AWS::Lambda::EventInvokeConfig
            Properties:
              FunctionName: !Ref Loop
              Qualifier: $LATEST
              DestinationConfig:
                OnSuccess: {Destination: !GetAtt Loop.Arn}
    """)

    code, _, err = run(capsys, "--template", str(path), "invoke", "Loop")

    assert_one_line_error(code, err, "You can't specify the function as a destination for itself.")


def test_missing_upload_file_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--template", ECHO, "upload", str(tmp_path / "absent.csv"))

    assert_one_line_error(code, err, "no such file")


def test_malformed_fault_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--template", ECHO, "invoke", "Echo", "--fault", "Echo")

    assert_one_line_error(code, err, "--fault")


@pytest.mark.parametrize("fault", ["Nobody:error", "Nobody:aws:s3:throttle", "Echo:aws:s3:melt"])
def test_a_fault_naming_no_function_or_kind_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    code, _, err = run(capsys, "--template", ECHO, "invoke", "Echo", "--fault", fault)

    assert_one_line_error(code, err, "--fault")


@pytest.mark.parametrize(("kind", "outcome"), [("timeout", "timeout"), ("crash", "error")])
def test_timeout_and_crash_faults_from_the_command_line_apply(
    capsys: pytest.CaptureFixture[str], kind: str, outcome: str
) -> None:
    report = json_run(capsys, "--template", ECHO, "invoke", "Echo", "--fault", f"Echo:{kind}::1")

    assert [attempt["outcome"] for attempt in report["attempts"]] == [outcome, "success"]


def test_json_report_of_an_invoke(capsys: pytest.CaptureFixture[str]) -> None:
    # When Echo is invoked asynchronously with --json
    report = json_run(capsys, "--template", ECHO, "invoke", "Echo", "--payload", '{"order": 7}')

    # Then stdout holds one JSON document with the attempts, deliveries, metrics, resources
    assert set(report) >= {"stack", "attempts", "deliveries", "metrics", "resources"}
    (attempt,) = report["attempts"]
    assert (attempt["function"], attempt["attempt"], attempt["outcome"]) == ("Echo", 1, "success")
    assert attempt["request_id"] == report["request_id"]
    (delivery,) = report["deliveries"]
    assert (delivery["kind"], delivery["ok"]) == ("on_success", True)
    assert set(delivery) >= {"at", "request_id", "function", "kind", "target", "ok", "body"}
    record = json.loads(delivery["body"])
    assert record["requestPayload"] == {"order": 7}
    assert record["responsePayload"] == {"echo": {"order": 7}}
    assert report["metrics"]["Echo"]["Invocations"] == 1
    assert report["resources"]["queues"]["SuccessQueue"]["messages"] == 1
    assert report["resources"]["queues"]["FailureQueue"]["messages"] == 0


def test_a_failing_function_exits_zero_once_its_failure_is_routed(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the Mode parameter set before the subcommand makes Echo fail
    report = json_run(capsys, "--parameter-overrides", "Mode=fail", "--template", ECHO, "invoke", "Echo")

    # Then it ran three times and the failure reached the failure queue
    assert [attempt["outcome"] for attempt in report["attempts"]] == ["error"] * 3
    assert report["events"][0]["condition"] == "RetriesExhausted"
    assert report["resources"]["queues"]["FailureQueue"]["messages"] == 1


def test_faults_from_the_command_line_apply(capsys: pytest.CaptureFixture[str]) -> None:
    report = json_run(
        capsys, "--template", ECHO, "invoke", "Echo", "--fault", "Echo:error:1:1", "--seed", "3"
    )

    assert [attempt["outcome"] for attempt in report["attempts"]] == ["error", "success"]


def test_upload_puts_the_file_into_the_notifying_bucket(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a file, when it is uploaded without naming a bucket
    upload = tmp_path / "orders.csv"
    upload.write_text("id\n1\n")
    report = json_run(capsys, "--template", ECHO, "upload", str(upload), "--key", "in/orders one.csv")

    # Then the bucket that notifies Echo received it and Echo ran on its S3 event
    assert report["resources"]["buckets"]["Inbox"]["objects"] == 1
    record = json.loads(report["deliveries"][0]["body"])
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "in/orders+one.csv"


def test_live_trace_is_plain_text_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--template", ECHO, "invoke", "Echo")

    assert code == 0
    assert "\033[" not in out
    assert "▶ attempt 1" in out
    assert "✓ success" in out
    assert "→ OnSuccess SQS SuccessQueue" in out
    assert "Summary of stack" in out


def test_redrive_dry_run_reports_the_failure_queue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--template", ECHO, "redrive", "--dry-run")

    assert code == 0
    assert "Redrive from FailureQueue: 0 would redrive, 0 left in place" in out


def test_redrive_of_an_unknown_queue_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--template", ECHO, "redrive", "--queue", "Elsewhere")

    assert_one_line_error(code, err, "no queue 'Elsewhere'")


@pytest.mark.parametrize("command", ["demo", "upload", "invoke", "redrive", "serve"])
def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    assert exit_info.value.code == 0
    assert f"usage: asyncrun {command}" in capsys.readouterr().out


def test_common_options_work_before_and_after_the_subcommand() -> None:
    before = parse_args(
        ["--template", "a.yaml", "--fault", "F:error", "invoke", "F", "--fault", "G:throttle"]
    )
    after = parse_args(["invoke", "F", "--template", "a.yaml", "--json"])

    assert before.template == "a.yaml"
    assert before.faults == ["F:error", "G:throttle"]
    assert after.template == "a.yaml"
    assert after.json is True
    assert before.command == after.command == "invoke"


def test_parameter_overrides_do_not_swallow_the_subcommand() -> None:
    args = parse_args(["--parameter-overrides", "A=1", "B=2 C=3", "invoke", "F"])

    assert args.command == "invoke"
    assert args.parameter_overrides == ["A=1", "B=2 C=3"]
    assert expand_overrides_argv(["--parameter-overrides", "A=1", "demo"]) == [
        "--parameter-overrides=A=1",
        "demo",
    ]


def test_the_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"asyncrun {version('asyncrun')}"


def test_an_account_concurrency_below_1_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--template", ECHO, "--account-concurrency", "0", "invoke", "Echo")

    assert_one_line_error(code, err, "the account's concurrency must be at least 1")


def test_max_environments_below_1_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--template", ECHO, "--max-environments", "0", "invoke", "Echo"])

    assert exit_.value.code == 2
    assert "argument --max-environments: 0 is not at least 1" in capsys.readouterr().err


def test_max_environments_with_an_executor_that_keeps_one_per_function_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys, "--template", ECHO, "--executor", "thread", "--max-environments", "2", "invoke", "Echo"
    )

    assert_one_line_error(code, err, "--max-environments applies to --executor process")


def test_max_environments_reaches_the_execution_environments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncrun.runtimes import environments

    limits: list[int] = []
    original = environments.ProcessExecutor.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        limits.append(kwargs["max_environments"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(environments.ProcessExecutor, "__init__", recording)
    code, _, _ = run(capsys, "--template", ECHO, "--max-environments", "3", "invoke", "Echo")
    assert code == 0
    code, _, _ = run(capsys, "--template", ECHO, "invoke", "Echo")
    assert code == 0

    assert limits == [3, 8]
