"""docs/async-semantics.md is the specification: every rule names tests that exist,
and nothing points to a specification outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "async-semantics.md"
CONFORMANCE = ROOT / "tests" / "runner" / "conformance"
_RULE_ROW = re.compile(r"^\| \*\*(R\d+\.\d+)\*\* (.*)$", re.MULTILINE)
_TEST_REFERENCE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)::(test_\w+)`")


def _rules() -> dict[str, list[tuple[str, str]]]:
    return {rule: _TEST_REFERENCE.findall(row) for rule, row in _RULE_ROW.findall(PAGE.read_text())}


def test_every_rule_names_at_least_one_test() -> None:
    rules = _rules()
    assert len(rules) >= 30
    assert [rule for rule, tests in rules.items() if not tests] == []


def test_every_test_the_page_names_exists() -> None:
    missing = []
    for tests in _rules().values():
        for file, name in tests:
            path = ROOT / file if file.startswith("tests/") else CONFORMANCE / file
            if not path.is_file() or not re.search(
                rf"^(async )?def {name}\(", path.read_text(), re.MULTILINE
            ):
                missing.append(f"{file}::{name}")
    assert missing == []


def test_nothing_cites_a_specification_outside_the_repository() -> None:
    outside = "ASYNC_" + "SEMANTICS"  # built, so this file does not cite it either
    files = [ROOT / "README.md", ROOT / "pyproject.toml"] + [
        path
        for folder in ("asyncrun", "tests", "docs", "layers", "functions", "bench")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".md", ".toml", ".yaml"}
    ]
    assert [str(path.relative_to(ROOT)) for path in files if outside in path.read_text()] == []
