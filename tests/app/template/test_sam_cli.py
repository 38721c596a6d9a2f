"""The SAM CLI accepts and builds the template. `sam build` downloads the layer's wheels
from PyPI, so this module keeps sockets on (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.layer import RUNTIME_PROVIDED, distribution_of
from tests.support.template import Template

VENV_BIN = Path(sys.executable).parent
SAM = VENV_BIN / "sam"
DEPLOY_CHECK = Path(__file__).resolve().parents[3] / "scripts" / "check_deploy_architecture.py"


def _python_with_pip() -> Path:
    """The folder of a python3.13 that has pip: sam build needs one on PATH. The
    project's venv may have none (uv creates it without), its base interpreter does."""
    for folder in (VENV_BIN, Path(sys.base_prefix) / "bin"):
        python = folder / "python3.13"
        probe = [str(python), "-m", "pip", "--version"]
        if python.is_file() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return folder
    raise AssertionError("no python3.13 with pip next to this interpreter; sam build needs one on PATH")


def _sam(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env["PATH"] = os.pathsep.join([str(_python_with_pip()), str(VENV_BIN), env.get("PATH", "")])
    return subprocess.run(
        [str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_given_template_when_validated_with_lint_then_valid(template: Template) -> None:
    result = _sam(
        "validate", "--lint", "--template-file", str(template.path), cwd=template.path.parent, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_given_template_when_built_then_functions_and_layer_are_packaged(
    template: Template, tmp_path: Path
) -> None:
    # When
    build_dir = tmp_path / "build"
    result = _sam(
        "build",
        "--template-file",
        str(template.path),
        "--build-dir",
        str(build_dir),
        "--parameter-overrides",
        "Architecture=x86_64",
        "--cache-dir",
        str(tmp_path / "cache"),
        cwd=template.path.parent,
        timeout=900,
    )

    # Then
    assert result.returncode == 0, result.stdout + result.stderr
    for function_id in template.functions:
        module, _ = template.handler(function_id)
        assert (build_dir / function_id / f"{module}.py").is_file()
    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "pipeline" / "models.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    assert (layer / "pydantic").is_dir()
    carried = {distribution_of(folder.name) for folder in layer.glob("*.dist-info")}
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic-core"} <= carried
    assert not carried & RUNTIME_PROVIDED  # the runtime's
    assert not (layer / "boto3").exists()
    assert not (layer / "botocore").exists()
    # Native modules for both architectures the layer declares: x86_64 (built here) and arm64
    assert list((layer / "pydantic_core").glob("_pydantic_core.*x86_64*.so"))
    assert list((layer / "pydantic_core").glob("_pydantic_core.*aarch64*.so"))
    assert (build_dir / "template.yaml").is_file()
    # ... so the deploy check lets it go to the arm64 stack (a build missing the stack's
    # architecture is refused: tests/app/template/test_deploys.py)
    check = subprocess.run(
        [sys.executable, str(DEPLOY_CHECK), "--build-dir", str(build_dir), "--template", str(template.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
