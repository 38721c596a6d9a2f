"""The shared layer: pinned dependencies, lean imports, and settings matching the template."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from tests.support.handlers import layer_dirs
from tests.support.template import ROOT, Template

REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)", line)
            assert match, f"not an exact pin: {line!r}"
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_given_layer_requirements_then_every_pin_is_the_locked_version() -> None:
    locked = {
        package["name"]: package["version"]
        for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
        if "version" in package
    }

    pins = _pins()

    assert {"aws-lambda-powertools", "pydantic", "aws-xray-sdk"} <= set(pins)
    assert "boto3" not in pins  # the Lambda runtime provides it
    assert {name: locked.get(name) for name in pins} == pins


@pytest.mark.parametrize("function_id", ["UploadFunction", "ProcessFunction", "AuditFunction"])
def test_given_handler_module_when_imported_cold_then_no_parser_package_and_no_client(
    template: Template, function_id: str
) -> None:
    # Given: a fresh interpreter with the function's folder and its layers importable, as in Lambda
    paths = [
        str(template.code_dir(function_id)),
        *(str(folder) for folder in layer_dirs(template, function_id)),
    ]
    module, _ = template.handler(function_id)
    probe = (
        "import sys, json\n"
        f"sys.path[:0] = {paths!r}\n"
        f"import {module}\n"
        "from pipeline import clients\n"
        "print(json.dumps({\n"
        "  'parser': any(m.startswith('aws_lambda_powertools.utilities.parser') for m in sys.modules),\n"
        "  'clients': clients._client.cache_info().currsize,\n"
        "}))\n"
    )
    env = {"PATH": "", "POWERTOOLS_TRACE_DISABLED": "true", **template.environment(function_id)}

    # When
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout

    # Then
    assert json.loads(output.splitlines()[-1]) == {"parser": False, "clients": 0}


def test_given_idempotency_table_then_its_key_and_ttl_are_what_powertools_writes(template: Template) -> None:
    # Given: the persistence layer as the functions build it (attribute names left at their defaults)
    store = DynamoDBPersistenceLayer(table_name="any", boto3_client=object())  # type: ignore[arg-type]

    # Then
    assert template.hash_key("IdempotencyTable") == store.key_attr
    ttl = template.properties("IdempotencyTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": store.expiry_attr, "Enabled": True}


def test_given_the_test_path_then_the_layer_package_is_the_templates_layer(template: Template) -> None:
    import pipeline

    layer = (template.path.parent / str(template.properties("SharedLayer")["ContentUri"])).resolve()

    assert Path(pipeline.__file__).resolve().is_relative_to(layer)


LAYER_PACKAGE = ROOT / "layers" / "shared" / "pipeline"
# What each kind of module may import from the layer (the package docstring's map).
MODELS = {"models", "events", "errors"}
DATA_ACCESS = {"clients", "objects", "process_table", "audit_log"}
SUPPORT = {"settings", "observability"}


def _layer_imports(module: str) -> set[str]:
    import ast

    tree = ast.parse((LAYER_PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pipeline":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("pipeline."):
                found.add(node.module.removeprefix("pipeline."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("pipeline.") for a in node.names if a.name.startswith("pipeline.")}
    return found


@pytest.mark.parametrize(
    ("modules", "allowed"),
    [(MODELS, MODELS), (DATA_ACCESS, MODELS | {"clients"}), (SUPPORT, MODELS | SUPPORT)],
    ids=["models", "data-access", "settings-and-observability"],
)
def test_given_layer_modules_then_imports_only_go_down(modules: set[str], allowed: set[str]) -> None:
    # Models import nothing but models; data access nothing but models and the clients;
    # only the stage logic sees everything. No cycle can form.
    imports = {module: _layer_imports(module) - {module} for module in modules}

    assert {module: found - allowed for module, found in imports.items() if found - allowed} == {}


def test_given_layer_package_then_every_module_is_placed_in_the_map() -> None:
    logic = {"uploads", "orders", "processing", "auditing", "idempotency"}
    modules = {path.stem for path in LAYER_PACKAGE.glob("*.py")} - {"__init__"}
    docstring = (LAYER_PACKAGE / "__init__.py").read_text()

    assert modules == MODELS | DATA_ACCESS | SUPPORT | logic
    assert [module for module in sorted(modules) if f"\n    {module} " not in docstring] == []
