"""Template tests: offline, except `test_sam_cli.py`, whose `sam build` fetches wheels
from PyPI."""

from __future__ import annotations

from typing import Any

import pytest
import samtranslator.translator.transform  # noqa: F401 - before sockets go: urllib3 probes IPv6 on import
from pytest_socket import disable_socket

from tests.support.template import Template, translate

NEEDS_NETWORK = {"test_sam_cli.py"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.path.name not in NEEDS_NETWORK:
        disable_socket(allow_unix_socket=True)


@pytest.fixture(scope="session")
def translated(template: Template) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of the template (default parameters)."""
    return translate(template)
