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
from tests.support.layer import RUNTIME_PROVIDED
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


def _lock() -> dict[str, dict]:
    return {package["name"]: package for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}


def _closure(lock: dict[str, dict], requirements: list[dict]) -> set[str]:
    """Every distribution `requirements` need, as uv.lock resolved them (extras followed,
    environment markers ignored: a superset)."""
    names: set[str] = set()
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        package = lock[requirement["name"]]
        extras = [
            dependency
            for extra in requirement.get("extra", [])
            for dependency in package.get("optional-dependencies", {}).get(extra, [])
        ]
        if requirement["name"] not in names or extras:
            names.add(requirement["name"])
            pending.extend(package.get("dependencies", []) + extras)
    return names


def test_given_layer_requirements_then_every_pin_is_the_locked_version() -> None:
    lock = _lock()

    pins = _pins()

    assert {"aws-lambda-powertools", "pydantic", "aws-xray-sdk"} <= set(pins)
    assert {name: lock[name]["version"] for name in pins} == pins


def test_given_layer_requirements_then_nothing_the_lambda_runtime_provides() -> None:
    # Given: what boto3 needs, as locked (a new dependency of boto3 counts too)
    runtime = _closure(_lock(), [{"name": "boto3"}])
    assert runtime >= RUNTIME_PROVIDED

    # Then: the layer comes first on sys.path, so any of these would shadow the runtime's
    assert not set(_pins()) & runtime


def test_given_layer_requirements_then_they_are_the_runtime_groups_whole_closure() -> None:
    # Given: the layer is installed with `pip install --no-deps`, so nothing fills a gap
    lock = _lock()
    group = lock["lambda-destinations-pipeline"]["dev-dependencies"]["runtime"]

    needed = _closure(lock, group) - _closure(lock, [{"name": "boto3"}])

    # Then
    assert set(_pins()) == needed


@pytest.mark.parametrize("function_id", ["UploadFunction", "ProcessFunction", "AuditFunction"])
def test_given_handler_module_when_imported_cold_then_no_parser_no_xray_sdk_and_no_client(
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
        "  'xray': any(m.startswith('aws_xray_sdk') for m in sys.modules),\n"
        "}))\n"
    )
    env = {"PATH": "", "POWERTOOLS_TRACE_DISABLED": "true", **template.environment(function_id)}

    # When
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout

    # Then
    assert json.loads(output.splitlines()[-1]) == {"parser": False, "clients": 0, "xray": False}


def test_given_lambda_environment_with_tracing_when_imported_then_the_tracer_is_powertools_and_traces(
    template: Template,
) -> None:
    # Given: what Lambda sets (a task root, no POWERTOOLS_TRACE_DISABLED, no AWS_SAM_LOCAL)
    paths = [str(folder) for folder in layer_dirs(template, "ProcessFunction")]
    probe = (
        "import sys, json\n"
        f"sys.path[:0] = {paths!r}\n"
        "from pipeline.observability import tracer\n"
        "print(json.dumps({'type': type(tracer).__name__, 'disabled': tracer.disabled,\n"
        "  'xray': 'aws_xray_sdk.core' in sys.modules}))\n"
    )
    env = {"PATH": "", "LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": template.region}

    # When
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout

    # Then
    assert json.loads(output.splitlines()[-1]) == {"type": "Tracer", "disabled": False, "xray": True}


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


def test_given_tracing_off_then_the_decorators_take_tracers_options_and_change_nothing() -> None:
    from pipeline.observability import Untraced

    def handler(event: dict, context: object) -> str:
        return "answer"

    untraced = Untraced()

    # Used bare and with Tracer's options, as the handlers and the stages use them
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_lambda_handler(capture_response=False)(handler) is handler
    assert untraced.capture_method(handler) is handler
    assert untraced.capture_method(capture_response=False, capture_error=False)(handler) is handler
