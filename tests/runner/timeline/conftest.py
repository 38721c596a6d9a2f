"""The timeline page: runs to draw (a small one, a thousand events, the demo) and a
headless Chromium driven through Debian's chromedriver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runner.timeline.runs import ROOT, RecordedRun, echo_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Screenshots the browser tests keep, for a person to look at after the run.
ARTIFACTS = ROOT / ".cache" / "test-artifacts"


@pytest.fixture(scope="session")
def small_run() -> RecordedRun:
    return echo_run(failing=1, succeeding=1, uploads=1, throttled=1)


@pytest.fixture(scope="session")
def thousand_event_run() -> RecordedRun:
    # 38 x 11 events (three attempts), 56 x 5, 40 x 6 (the notification), 20 throttles x 3
    run = echo_run(failing=38, succeeding=56, uploads=40, throttled=20)
    assert len(run.trace) == 998
    return run


@dataclass
class DemoPage:
    path: Path
    report: dict[str, Any]  # the run's --json report


@pytest.fixture(scope="session")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> DemoPage:
    """`asyncrun --json --html FILE demo`, as a person runs it, in the repository."""
    path = tmp_path_factory.mktemp("demo") / "demo-timeline.html"
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "asyncrun", "--json", "--html", str(path), "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return DemoPage(path, json.loads(done.stdout))


def _browser_problem() -> str | None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (
            f"no browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver; "
            "`.ci/run` and `make test` install them where apt and root are available)"
        )
    return None


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver: the driver's path is given, so
    Selenium never looks for (or downloads) one; a fresh profile, nothing phoning home."""
    problem = _browser_problem()
    if problem:
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--force-device-scale-factor=1",
        "--window-size=1600,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
