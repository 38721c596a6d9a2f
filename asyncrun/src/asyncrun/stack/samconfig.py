"""`samconfig.toml` (or `.yaml`) beside a template: the stack name, region and
parameter overrides `sam deploy` would use, so the local run sees the same values."""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asyncrun.stack.intrinsics import TemplateError

CONFIG_FILES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")


@dataclass(frozen=True)
class SamConfig:
    path: Path | None = None
    stack_name: str | None = None
    region: str | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)


def parse_parameter_overrides(
    values: str | Iterable[str], source: str = "parameter overrides"
) -> dict[str, str]:
    """`K=V` pairs as SAM accepts them: one string `"K=V K2='a b'"`, a list of such
    strings, or CloudFormation's `ParameterKey=K,ParameterValue=V`."""
    texts = [values] if isinstance(values, str) else list(values)
    overrides: dict[str, str] = {}
    for text in texts:
        try:
            words = shlex.split(text)
        except ValueError as error:
            raise TemplateError(f"{source}: cannot read {text!r}: {error}") from None
        for word in words:
            key, value = _split_pair(word, source)
            overrides[key] = value
    return overrides


def _split_pair(word: str, source: str) -> tuple[str, str]:
    if word.startswith("ParameterKey="):
        key_part, separator, value_part = word.partition(",ParameterValue=")
        if separator:
            return key_part.removeprefix("ParameterKey="), value_part
    key, separator, value = word.partition("=")
    if not separator or not key:
        raise TemplateError(f"{source}: {word!r} is not KEY=VALUE")
    return key, value


def read_samconfig(folder: Path, config_env: str = "default") -> SamConfig:
    """The settings of `config_env` from the first config file found in `folder`:
    `<env>.global.parameters`, overridden by `<env>.deploy.parameters`."""
    for name in CONFIG_FILES:
        path = folder / name
        if path.is_file():
            return _settings(path, _load(path), config_env)
    return SamConfig()


def _load(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
        document = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TemplateError(f"{path}: {reason}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: expected a table of config environments")
    return document


def _settings(path: Path, document: Mapping[str, Any], config_env: str) -> SamConfig:
    environment = document.get(config_env)
    if environment is None:
        if config_env != "default":
            raise TemplateError(f"{path}: no config environment {config_env!r}")
        return SamConfig(path=path)
    merged: dict[str, Any] = {}
    overrides: dict[str, str] = {}
    for command in ("global", "deploy"):
        section = (environment.get(command) or {}).get("parameters") or {}
        merged.update(section)
        if "parameter_overrides" in section:
            overrides.update(
                parse_parameter_overrides(
                    section["parameter_overrides"], f"{path} [{config_env}.{command}.parameters]"
                )
            )
    return SamConfig(
        path=path,
        stack_name=merged.get("stack_name"),
        region=merged.get("region"),
        parameter_overrides=overrides,
    )
