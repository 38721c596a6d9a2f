"""asyncrun's README shows foreign_app/ as its complete example: the files it shows are
the files the package test runs."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
README = HERE.parents[2] / "asyncrun" / "README.md"


def test_the_readme_shows_the_foreign_app_as_it_is() -> None:
    readme = README.read_text()
    for name in ("template.yaml", "src/orders/app.py", "test_orders.py"):
        assert (HERE / "foreign_app" / name).read_text() in readme, f"asyncrun/README.md shows an old {name}"
