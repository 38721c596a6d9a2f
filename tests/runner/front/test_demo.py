"""`asyncrun demo`: a scenario's uploads, faults and duplicate deliveries, played
against a stack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncrun.cli.demo import load_scenario, scenario_faults
from asyncrun.cli.main import main
from asyncrun.errors import CommandError
from asyncrun.service.s3events import s3_key_encode
from asyncrun.stack.model import Stack
from tests.support.template import project_template

ECHO = str(Path(__file__).parent / "templates" / "echo.yaml")


def write_scenario(folder: Path, uploads: list[dict[str, Any]]) -> Path:
    for name in {upload["file"] for upload in uploads}:
        (folder / name).write_text(f"contents of {name}\n")
    path = folder / "scenario.json"
    path.write_text(json.dumps({"title": "test scenario", "uploads": uploads}))
    return path


def demo_report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(["demo", "--json", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return dict(json.loads(captured.out))


def test_faults_apply_to_their_upload_and_duplicates_go_to_the_notified_function(
    echo_stack: Stack, tmp_path: Path
) -> None:
    scenario = load_scenario(
        write_scenario(
            tmp_path,
            [
                {"file": "a.csv", "key": "in/a one.csv"},
                {
                    "file": "b.csv",
                    "key": "in/b.csv",
                    "faults": [{"function": "Echo", "kind": "error", "times": 1}],
                },
                {"file": "a.csv", "key": "in/a one.csv", "duplicate": True},
            ],
        )
    )

    faults = scenario_faults(scenario, echo_stack, echo_stack.buckets["Inbox"].name)

    assert [(f.function, f.kind, f.times, f.match) for f in faults] == [
        ("Echo", "error", 1, "in/b.csv"),
        ("Echo", "duplicate", 1, s3_key_encode("in/a one.csv")),
    ]


def test_a_scenario_runs_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a scenario with a plain upload, a flaky one, and a duplicate delivery
    scenario = write_scenario(
        tmp_path,
        [
            {"file": "a.csv", "key": "in/a one.csv", "note": "plain"},
            {
                "file": "b.csv",
                "key": "in/b.csv",
                "faults": [{"function": "Echo", "kind": "error", "times": 1}],
            },
            {"file": "a.csv", "key": "in/a one.csv", "duplicate": True},
        ],
    )

    report = demo_report(capsys, "--template", ECHO, "--scenario", str(scenario))

    # Then two objects were put, the first notification ran twice, the flaky one was retried
    assert report["resources"]["buckets"]["Inbox"]["objects"] == 2
    outcomes = Counter(attempt["outcome"] for attempt in report["attempts"])
    assert outcomes == {"success": 3, "error": 1}
    assert [delivery["kind"] for delivery in report["deliveries"]] == ["on_success"] * 3
    assert report["failure_records"] == []


def test_a_missing_scenario_file_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["demo", "--template", ECHO, "--scenario", str(tmp_path / "none.json")])

    assert code == 2
    assert (
        capsys.readouterr().err.strip() == f"asyncrun: error: no such scenario file: {tmp_path / 'none.json'}"
    )


def test_a_scenario_naming_an_unknown_function_is_refused(echo_stack: Stack, tmp_path: Path) -> None:
    scenario = load_scenario(
        write_scenario(
            tmp_path, [{"file": "a.csv", "key": "k", "faults": [{"function": "Ghost", "kind": "throttle"}]}]
        )
    )

    with pytest.raises(CommandError, match="'Ghost'"):
        scenario_faults(scenario, echo_stack, echo_stack.buckets["Inbox"].name)


def test_an_invalid_scenario_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"uploads": [{"file": "a.csv"}]}))

    with pytest.raises(CommandError, match=r"uploads\.0\.key"):
        load_scenario(path)


@pytest.mark.pipeline
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_the_project_demo_runs_the_sample_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    template = project_template()
    scenario = json.loads((template.path.parent / "samples" / "demo.json").read_text())
    keys = {upload["key"] for upload in scenario["uploads"]}

    report = demo_report(capsys, "--template", str(template.path))

    # Each distinct upload is stored once, and fingerprinted once per delivery
    assert report["resources"]["buckets"]["UploadBucket"]["objects"] == len(keys)
    upload_attempts = [a for a in report["attempts"] if a["function"] == "UploadFunction"]
    assert {a["outcome"] for a in upload_attempts} == {"success", "error"}
    # Every upload that passed the upload check is processed once, however often it arrived,
    # and every failure the functions routed is in the debug queue for redrive
    failures = [delivery for delivery in report["deliveries"] if delivery["kind"] == "on_failure"]
    assert len(report["failure_records"]) == len(failures)
    assert all(record["queue"] == "DebugQueue" for record in report["failure_records"])
    failed = {
        (record["function_arn"].split(":")[6].split("-")[-2], record["error_type"], record["condition"])
        for record in report["failure_records"]
    }
    assert failed == {
        ("UploadFunction", "UnsupportedFormatError", "RetriesExhausted"),
        ("ProcessFunction", "TooManyRejectedRowsError", "RetriesExhausted"),
    }
    assert report["resources"]["tables"]["ProcessTable"]["items"] == len(keys) - 1
