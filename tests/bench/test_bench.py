"""`make bench` itself: the figures' arithmetic and files, and its sections run small, so
that a change to the runner or the pipeline that breaks the bench fails here rather than
on the next person's `make bench`. Nothing here asserts a time: speed is the bench's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.figures import Figure, Goal, write_json, write_markdown
from benchmarks.run import bench_runner, bench_warm_stages

ISSUE_KEYS = {"name", "value", "baseline", "ratio", "goal", "met"}


def test_a_ratio_goal_is_met_at_its_limit_and_not_past_it() -> None:
    goal = Goal(1.25)
    assert Figure("at", 125, 100, "ms", goal, "b").met is True
    assert Figure("past", 126, 100, "ms", goal, "b").met is False
    assert Figure("no baseline", 1, None, "ms", goal, "b").met is None


def test_an_absolute_goal_ignores_the_baseline() -> None:
    goal = Goal(0.5, on_ratio=False)
    assert Figure("under", 0.4, 0.001, "s", goal, "b").met is True
    assert Figure("at", 0.5, None, "s", goal, "b").met is False
    assert goal.text("s") == "< 0.5 s"


def test_results_files_hold_every_figure_with_the_issues_keys(tmp_path: Path) -> None:
    figures = [
        Figure("runner: cost per upload, 100 uploads", 120.0, 40.0, "ms", Goal(1.25), "direct", "why"),
        Figure("layer size", 14.3, None, "MB", Goal(15, on_ratio=False), "-"),
    ]
    curve = {
        "asyncrun": [(100, 120.0), (1000, 80.0)],
        "handlers called directly": [(100, 40.0), (1000, 41.0)],
    }
    write_json(figures, tmp_path / "results.json")
    write_markdown(figures, curve, "header", tmp_path / "results.md")

    written = json.loads((tmp_path / "results.json").read_text())
    assert [entry.keys() >= ISSUE_KEYS for entry in written] == [True, True]
    assert written[0]["note"] == "why"
    assert (written[0]["ratio"], written[0]["goal"], written[0]["met"]) == (3.0, "<= 1.25x", False)
    assert (written[1]["ratio"], written[1]["goal"], written[1]["met"]) == (None, "< 15 MB", True)
    table = (tmp_path / "results.md").read_text()
    assert "| runner: cost per upload, 100 uploads | 120 ms | 40 | 3.00x | <= 1.25x | **no** |" in table
    assert "| 1000 | 80.0 | 41.0 |" in table
    chart = (tmp_path / "cost-per-upload.svg").read_text()
    assert chart.count("<polyline") == 2


@pytest.mark.pipeline
def test_the_runner_section_runs_small_and_counts_every_attempt() -> None:
    figures, curve = bench_runner([2, 3], 1, loopback_calls=20)
    by_name = {f.name: f for f in figures}
    assert set(by_name) == {
        "runner: cost per upload, 2 uploads",
        "runner: cost per upload, 3 uploads",
        "runner: cost per upload, 2 uploads, --max-environments 1",
        "runner: cost per upload at 3 against 2",
        "retries: 2 uploads failing twice then succeeding",
        "runner: one DynamoDB GetItem from a function's environment (over loopback)",
    }
    assert all(f.value > 0 and (f.baseline is None or f.baseline > 0) for f in figures)
    # Every upload went through all three stages, and the failing run retried each twice.
    assert "UploadFunction success: 3" in by_name["runner: cost per upload, 3 uploads"].note
    assert "AuditFunction success: 3" in by_name["runner: cost per upload, 3 uploads"].note
    retries = by_name["retries: 2 uploads failing twice then succeeding"].note
    assert "ProcessFunction error: 4, ProcessFunction success: 2" in retries
    assert sorted(curve) == ["asyncrun", "handlers called directly"]
    assert [n for n, _ in curve["asyncrun"]] == [2, 3]


@pytest.mark.pipeline
def test_the_warm_section_times_each_stage_beside_its_baseline() -> None:
    figures = bench_warm_stages(1)
    assert [f.name for f in figures] == [
        "warm duration UploadFunction",
        "warm duration ProcessFunction",
        "warm duration AuditFunction",
    ]
    for figure in figures:
        assert figure.value > 0
        assert figure.baseline is not None
        assert figure.baseline > 0
        # Three passes of three rounds, less each stage's cold first invocation.
        assert re.search(r"median of 8 warm invocations back to back", figure.note)
