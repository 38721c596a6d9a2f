"""Loading a function's handler the way Lambda does: its code folder's module, with its
layers' folders importable, under a module name of its own so that the three `app.py`
never collide in `sys.modules`."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.template import Template

Handler = Callable[[Any, Any], Any]


def layer_dirs(template: Template, function_id: str) -> list[Path]:
    """The ContentUri folders of the function's layers (the layer code lives there)."""
    folders = []
    for layer in template.function_property(function_id, "Layers") or []:
        if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in template.resources:
            content = template.properties(layer["Ref"])["ContentUri"]
            folders.append(template.path.parent / str(content))
    return folders


def load_handler(template: Template, function_id: str) -> Handler:
    module_name, attribute = template.handler(function_id)
    for folder in layer_dirs(template, function_id):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    unique_name = f"{function_id}_{module_name}"
    module = sys.modules.get(unique_name)
    if module is None:
        path = template.code_dir(function_id) / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(unique_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique_name] = module
        spec.loader.exec_module(module)
    return getattr(module, attribute)
