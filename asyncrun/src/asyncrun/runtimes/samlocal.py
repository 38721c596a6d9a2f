"""A copy of a SAM template for `sam local` on this machine, shared by the container
tests and the `sam-local` executor.

`sam local` runs a template as written, which does not fit a local run in three
ways: code paths are relative to the template (the copy lives elsewhere), a function
only sees the environment variables its template declares (so it cannot be pointed
at a local endpoint unless `AWS_ENDPOINT_URL` is declared), and the functions'
architecture must be the host's (a template parameter usually chooses it). The copy
fixes the first two; the third is a parameter override. The production template
is never changed."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
# The parameter templates conventionally use to choose the functions' instruction set.
ARCHITECTURE_PARAMETER = "Architecture"
DERIVED_NAME = "template.json"  # SAM reads JSON templates as well as YAML

_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Lambda::Function": "Code",
    "AWS::Lambda::LayerVersion": "Content",
}


@dataclass(frozen=True)
class LocalTemplate:
    path: Path  # the derived template
    source: Path  # the template it was derived from
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    needs_build: bool = False  # a layer or function has dependencies to install

    def override_args(self, extra: Mapping[str, str] | None = None) -> list[str]:
        """`--parameter-overrides K=V ...` for sam, or nothing."""
        values = {**self.parameter_overrides, **(extra or {})}
        if not values:
            return []
        return ["--parameter-overrides", *(f"{key}={value}" for key, value in values.items())]


def host_architecture() -> str:
    """The Lambda architecture name of this machine's processor."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    raise RuntimeError(f"no Lambda architecture runs natively on a {machine} machine")


def derive(
    template: Path,
    out_dir: Path,
    *,
    endpoint_url: str | None = None,
    variables: Mapping[str, Mapping[str, str]] | None = None,
) -> LocalTemplate:
    """Write the local copy of `template` into `out_dir` and say how to run it.

    With `endpoint_url`, every function declares `AWS_ENDPOINT_URL` with that value
    (what the SDK in the function then calls); `variables` declares more, per
    function logical id. An `--env-vars` file may still override any of them."""
    from samtranslator.yaml_helper import yaml_parse  # keeps short tags as their long forms

    template = Path(template).resolve()
    text = template.read_text()
    document = json.loads(text) if template.suffix == ".json" else yaml_parse(text)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError(f"{template}: not a template (no Resources section)")
    folder = template.parent
    needs_build = False
    globals_function = (document.get("Globals") or {}).get("Function") or {}
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = _absolute(globals_function["CodeUri"], folder)
    for logical_id, resource in document["Resources"].items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        properties = resource.setdefault("Properties", {}) if kind in _CODE_PROPERTIES else None
        if properties is None:
            continue
        key = _CODE_PROPERTIES[str(kind)]
        if isinstance(properties.get(key), str):
            properties[key] = _absolute(properties[key], folder)
        if kind in _FUNCTION_TYPES:
            code = properties.get(key) or globals_function.get("CodeUri")
            if isinstance(code, str) and (Path(code) / "requirements.txt").is_file():
                needs_build = True
            declared = dict((variables or {}).get(logical_id, {}))
            if endpoint_url is not None:
                declared[ENDPOINT_VARIABLE] = endpoint_url
            for name, value in declared.items():
                _declare(properties, name, value)
        elif (resource.get("Metadata") or {}).get("BuildMethod"):
            needs_build = True
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DERIVED_NAME
    path.write_text(json.dumps(document, indent=1))
    overrides = {}
    parameters = document.get("Parameters") or {}
    if ARCHITECTURE_PARAMETER in parameters:
        overrides[ARCHITECTURE_PARAMETER] = host_architecture()
    return LocalTemplate(path, template, overrides, needs_build)


def cache_dir_for(template: Path, root: Path) -> Path:
    """A folder of `root` that belongs to this template (its path, hashed)."""
    digest = hashlib.sha256(str(Path(template).resolve()).encode()).hexdigest()[:12]
    return root / f"{Path(template).stem}-{digest}"


def _absolute(uri: str, folder: Path) -> str:
    if uri.startswith("s3://") or Path(uri).is_absolute():
        return uri
    return str((folder / uri).resolve())


def _declare(properties: dict[str, Any], name: str, value: str) -> None:
    environment = properties.setdefault("Environment", {})
    if not isinstance(environment, dict):
        return  # an intrinsic chooses the whole environment: leave it alone
    variables = environment.setdefault("Variables", {})
    if isinstance(variables, dict):
        variables[name] = value
