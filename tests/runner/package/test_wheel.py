"""Build asyncrun's wheel, install it (and pytest) into a fresh virtual environment made
from this machine's Python 3.13 outside the repository, and run foreign_app/, copied
away from the repository, through the `asyncrun` command and through pytest with the
plugin found by its entry point alone.

Dependencies come from PyPI through uv, held to the versions in uv.lock so the uv cache
serves them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
UV = Path(sys.executable).parent / "uv"


def run(argv: Sequence[str | Path], *, cwd: Path, env: dict[str, str]) -> str:
    finished = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, f"{' '.join(map(str, argv))} exited {finished.returncode}:\n" + (
        finished.stdout + finished.stderr
    )
    return finished.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the fresh environment's bin folder, an environment for its programs that knows
    nothing of this repository or of any AWS account)."""
    work = tmp_path_factory.mktemp("asyncrun-wheel")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV", "UV_PROJECT", "PYTEST_"))
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"
    run([UV, "build", "--wheel", "--out-dir", work / "dist", ROOT / "asyncrun"], cwd=ROOT, env=env)
    (wheel,) = (work / "dist").glob("asyncrun-*.whl")
    constraints = work / "constraints.txt"
    run(
        [UV, "export", "--frozen", "--no-hashes", "--no-emit-workspace", "--all-groups", "-o", constraints],
        cwd=ROOT,
        env=env,
    )
    python313 = run([ROOT / "scripts" / "find-python313.sh"], cwd=ROOT, env=env).strip()
    venv = work / "venv"
    run([UV, "venv", "--python", python313, venv], cwd=work, env=env)
    run(
        [UV, "pip", "install", "--python", venv / "bin" / "python", "-c", constraints, wheel, "pytest"],
        cwd=work,
        env=env,
    )
    return venv / "bin", env


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(HERE / "foreign_app", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_wheel_brings_asyncrun_and_nothing_of_the_pipeline(
    installed: tuple[Path, dict[str, str]],
) -> None:
    bin_dir, env = installed
    found = run(
        [
            bin_dir / "python",
            "-c",
            "import asyncrun, importlib.util as u; print(asyncrun.__file__); "
            "print([m for m in ('aws_lambda_powertools', 'pipeline') if u.find_spec(m)])",
        ],
        cwd=bin_dir,
        env=env,
    ).splitlines()
    assert found[0].startswith(str(bin_dir.parent)), found  # the installed copy, not this checkout
    assert found[1] == "[]"
    version = tomllib.loads((ROOT / "asyncrun" / "pyproject.toml").read_text())["project"]["version"]
    assert run([bin_dir / "asyncrun", "--version"], cwd=bin_dir, env=env).strip() == f"asyncrun {version}"


def test_the_command_line_runs_the_foreign_app(installed: tuple[Path, dict[str, str]], app: Path) -> None:
    bin_dir, env = installed
    order = {"order_id": "o-1", "quantity": 2, "unit_price": "1.25"}
    report = json.loads(
        run(
            [bin_dir / "asyncrun", "invoke", "PriceFunction", "--payload", json.dumps(order), "--json"],
            cwd=app,
            env=env,
        )
    )
    (delivery,) = report["deliveries"]
    assert (delivery["kind"], delivery["destination_type"], delivery["ok"]) == ("on_success", "sqs", True)
    record = json.loads(delivery["body"])
    assert record["requestPayload"] == order
    assert record["responsePayload"] == {"order_id": "o-1", "total": "2.50", "currency": "EUR"}
    assert report["resources"]["queues"]["PricedQueue"]["messages"] == 1  # it reached the queue

    failing = run(
        [bin_dir / "asyncrun", "--json", "invoke", "PriceFunction", "--payload", '{"order_id": "o-2"}'],
        cwd=app,
        env=env,
    )
    (delivery,) = json.loads(failing)["deliveries"]
    assert (delivery["kind"], delivery["destination_type"], delivery["ok"]) == ("on_failure", "sns", True)
    assert json.loads(failing)["resources"]["queues"]["UnpricedInbox"]["messages"] == 1


def test_pytest_finds_the_plugin_with_no_conftest(installed: tuple[Path, dict[str, str]], app: Path) -> None:
    bin_dir, env = installed
    assert not list(app.rglob("conftest.py"))
    output = run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=app, env=env)
    assert "3 passed" in output, output
