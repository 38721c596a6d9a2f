"""`asyncrun serve` on the real clock runs attempts of different events at the same
time, as many at once as each function's concurrency allows (docs/async-semantics.md
R13.7): seen from the wall-time intervals the handlers record in S3."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncrun.api.serve_process import ServeProcess
from asyncrun.stack.template import load_stack
from tests.runner.api.conftest import REGION, Serve

TEMPLATE = Path(__file__).parent / "templates" / "concurrency.yaml"
BUCKET = "concurrency-runs"
SLOW = json.dumps({"seconds": 0.5}).encode()


@pytest.fixture(scope="module")
def serve_real_clock() -> Iterator[Serve]:
    stack = load_stack(TEMPLATE, stack_name="concurrency", region=REGION)
    with ServeProcess(TEMPLATE, args=["--stack-name", "concurrency", "--region", REGION]) as process:
        yield Serve(process.url, stack, process)


def _invoke(serve: Serve, function: str, times: int) -> None:
    lam = serve.client("lambda")
    for _ in range(times):
        assert lam.invoke(FunctionName=function, InvocationType="Event", Payload=SLOW)["StatusCode"] == 202


def _intervals(serve: Serve, function: str, expected: int) -> list[tuple[float, float]]:
    """The (start, end) of each attempt of `function`, once `expected` have ended."""
    s3 = serve.client("s3")
    deadline = time.monotonic() + 60  # a bound on waiting, not on how fast they run
    while True:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{function}/").get("Contents", [])
        if len(listed) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    runs = [json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in listed]
    assert len(runs) == expected, serve.process.lines[-20:]
    return sorted((run["start"], run["end"]) for run in runs)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that hold one instant (a start at an end does not overlap)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    return max(itertools.accumulate(step for _, step in edges))


def test_with_reserved_concurrency_1_slow_events_run_one_after_another_while_others_run_alongside(
    serve_real_clock: Serve,
) -> None:
    # Given three slow events for a function reserved to 1, and three for one without a reservation
    _invoke(serve_real_clock, "concurrency-one", 3)
    _invoke(serve_real_clock, "concurrency-unreserved", 3)

    one = _intervals(serve_real_clock, "concurrency-one", 3)
    unreserved = _intervals(serve_real_clock, "concurrency-unreserved", 3)

    # Then the reserved function's attempts never overlap
    assert _most_at_once(one) == 1
    # And the other function's ran at the same time as the reserved one's, and as each other
    assert any(_overlap(a, b) for a in one for b in unreserved)
    assert _most_at_once(unreserved) > 1


def test_with_reserved_concurrency_2_two_run_at_once_never_three(serve_real_clock: Serve) -> None:
    _invoke(serve_real_clock, "concurrency-two", 3)

    two = _intervals(serve_real_clock, "concurrency-two", 3)

    assert _most_at_once(two) == 2
