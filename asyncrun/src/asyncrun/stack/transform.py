"""The SAM transform, run offline with the SAM translator: no IAM lookup of managed
policies, and local code folders hidden behind placeholders the translator accepts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from asyncrun.stack.intrinsics import TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Local code folders are swapped for s3:// placeholders before the SAM transform (which
# insists on S3 locations) and swapped back afterwards.
LOCAL_CODE_BUCKET = "asyncrun-local"


def uses_sam_transform(document: Mapping[str, Any]) -> bool:
    transform = document.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def translate(
    document: dict[str, Any], parameter_values: dict[str, Any], region: str, code_paths: dict[str, str]
) -> dict[str, Any]:
    """The SAM transform, offline: no IAM lookup of managed policies, and local code
    folders hidden behind placeholders the translator accepts."""
    from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    document = copy.deepcopy(document)
    _hide_local_code(document, code_paths)
    values = dict(parameter_values)
    to_py27_compatible_template(document, values)
    # The translator reads only `region_name` from its session. A real session would
    # resolve the user's AWS profile, and a profile that does not exist stops it.
    region_only = SimpleNamespace(region_name=region)
    translator = Translator(None, Parser(), boto_session=region_only)
    try:
        translated = translator.translate(document, values, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as error:
        raise TemplateError(" ".join(cause.message for cause in error.causes)) from None
    except ExceptionWithMessage as error:
        raise TemplateError(error.message) from None
    finally:
        # The translator times itself; its publisher discards the numbers, but unpublished
        # ones make it warn at exit.
        translator.metrics.publish()
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def _hide_local_code(document: dict[str, Any], code_paths: dict[str, str]) -> None:
    def hide(properties: dict[str, Any], key: str, token: str) -> None:
        value = properties.get(key)
        if isinstance(value, str) and not value.startswith("s3://"):
            code_paths[token] = value
            properties[key] = f"s3://{LOCAL_CODE_BUCKET}/{token}"

    for section, key in (("Function", "CodeUri"), ("LayerVersion", "ContentUri")):
        globals_section = (document.get("Globals") or {}).get(section)
        if isinstance(globals_section, dict):
            hide(globals_section, key, f"Globals/{section}")
    for logical_id, resource in document["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        if resource.get("Type") == "AWS::Serverless::Function":
            hide(resource["Properties"], "CodeUri", logical_id)
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            hide(resource["Properties"], "ContentUri", logical_id)
