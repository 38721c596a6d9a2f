"""asyncrun's packages are layers: a module imports only from its own layer or those
below it, and no module grows past a size a reader can hold. Imports are read from
the source (every `import`, at any depth, type-checking ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "asyncrun" / "src" / "asyncrun"
# Bottom to top. `asyncrun/__init__.py` is the package's map and imports nothing;
# the pytest plugin is a front end beside the command line; `__main__` runs the command line.
LAYERS = ("errors", "stack", "service", "runtimes", "api", "cli", "pytest_plugin", "__main__")
MAX_LINES = 500
# Modules over MAX_LINES, each with why it is not split yet. An entry that is no longer
# over the limit fails too, so the list only shrinks.
OVERSIZED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _layer(module: str) -> int | None:
    """The module's layer index; None for the package's own `__init__`."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return LAYERS.index(parts[1])


def _imports(module: str) -> set[str]:
    """The asyncrun modules (or packages) `module` imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
    return {name for name in found if name == "asyncrun" or name.startswith("asyncrun.")}


def test_every_module_belongs_to_a_layer() -> None:
    unknown = [module for module in MODULES if module.count(".") and module.split(".")[1] not in LAYERS]
    assert unknown == [], f"modules outside the layers {LAYERS}: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    own = _layer(module)
    imported = _imports(module)
    if own is None:
        assert imported == set(), f"{module} is the package's map and imports nothing: {imported}"
        return
    above = sorted(name for name in imported if (_layer(name) or 0) > own)
    assert above == [], f"{module} ({LAYERS[own]}) imports from a layer above it: {above}"


def test_the_stack_model_imports_nothing_of_asyncrun() -> None:
    assert _imports("asyncrun.stack.model") == set()


def test_the_service_never_imports_a_runtime_the_api_or_the_command_line() -> None:
    offenders = {
        module: sorted(
            name for name in _imports(module) if name.split(".")[1:2] in (["runtimes"], ["api"], ["cli"])
        )
        for module in MODULES
        if module.startswith("asyncrun.service")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_only_the_command_line_and_main_import_the_command_line() -> None:
    importers = sorted(
        module
        for module in MODULES
        if any(name.startswith("asyncrun.cli.main") for name in _imports(module))
        and not module.startswith("asyncrun.cli.main")
        and module != "asyncrun.__main__"
    )
    assert importers == []


def test_no_module_is_over_the_size_limit_unless_listed_with_its_reason() -> None:
    sizes = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines()) for path in MODULES.values()
    }
    unlisted = sorted(name for name, lines in sizes.items() if lines > MAX_LINES and name not in OVERSIZED)
    stale = sorted(name for name in OVERSIZED if sizes.get(name, 0) <= MAX_LINES)
    assert unlisted == [], f"over {MAX_LINES} lines: {unlisted}: split it along its seams"
    assert stale == [], f"no longer over {MAX_LINES} lines (or gone): remove from OVERSIZED: {stale}"
