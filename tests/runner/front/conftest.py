"""Tests of asyncrun's front: template reading, provisioning, the command line, the
report and the demo. Offline: sockets are disabled, AWS is the embedded moto."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack
from asyncrun.stack.template import load_stack
from tests.support.sockets import loopback_only

# The X-Ray SDK (under the project's Tracer) opens its UDP emitter's socket when it is
# first imported: that happens here, before sockets are disabled, and the functions
# run in-process reuse the module.
with contextlib.suppress(ImportError):
    import aws_xray_sdk.core  # noqa: F401

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
REGION = "us-east-1"


def pytest_runtest_setup(item: pytest.Item) -> None:
    loopback_only()


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The endpoint and the functions change the process environment; each test gets
    back the one it started with."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def write_template(tmp_path: Path) -> Callable[..., Path]:
    """Writes a template (and optionally a samconfig.toml) into a fresh folder."""

    def write(body: str, *, samconfig: str | None = None, name: str = "template.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        if samconfig is not None:
            (tmp_path / "samconfig.toml").write_text(textwrap.dedent(samconfig))
        return path

    return write


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint(region=REGION) as started:
        yield started


@pytest.fixture
def echo_stack() -> Stack:
    return load_stack(TEMPLATES / "echo.yaml", stack_name="front", region=REGION)
