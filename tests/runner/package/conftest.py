"""asyncrun as someone else installs it: its wheel in a fresh virtual environment outside
the repository, running a SAM application of its own (foreign_app/, whose tests run only
there, never in this suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

# foreign_app/ holds another project's tests: they run in the fresh environment.
collect_ignore = ["foreign_app"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.package)
