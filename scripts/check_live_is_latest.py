#!/usr/bin/env python3
"""After a deploy: fail, naming what differs, where a function's alias (`live`) runs other
code or configuration than its `$LATEST`.

SAM publishes a new version only when the template's text for the function (or its
layer) changes: a new parameter value alone (LogLevel, MaxUploadBytes, ...) reaches
`$LATEST` while `live` keeps the old version. This says so instead of letting the
deploy look done."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from asyncrun.stack.samconfig import read_samconfig
from asyncrun.stack.template import TemplateError, read_template

# What a published version freezes and a deploy may change.
COMPARED = (
    "CodeSha256",
    "Environment",
    "LoggingConfig",
    "Timeout",
    "MemorySize",
    "Layers",
    "Architectures",
    "Runtime",
    "Handler",
    "TracingConfig",
)


def differences(lambda_client: Any, function_name: str, alias: str) -> list[str]:
    """The settings in which the alias's version differs from `$LATEST`."""
    latest = lambda_client.get_function_configuration(FunctionName=function_name)
    live = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier=alias)
    return [field for field in COMPARED if latest.get(field) != live.get(field)]


def behind(lambda_client: Any, function_names: Iterable[str], alias: str) -> dict[str, list[str]]:
    """Function -> what its alias lacks, for every function whose alias is behind."""
    found = {name: differences(lambda_client, name, alias) for name in function_names}
    return {name: fields for name, fields in found.items() if fields}


def report(lagging: Mapping[str, list[str]], alias: str) -> str:
    lines = [f"check-live-is-latest: `{alias}` does not run what was deployed:"]
    for name, fields in sorted(lagging.items()):
        lines.append(f"  {name}: {', '.join(fields)} differ from $LATEST")
    lines.append(
        "  A parameter-only change publishes no version (README, Deploying): deploy it with a code or "
        f"layer change, or run `aws lambda publish-version` and `aws lambda update-alias --name {alias}`."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--config-env", default="default")
    args = parser.parse_args()
    import boto3

    try:
        config = read_samconfig(args.template.parent, args.config_env)
        alias = str(
            ((read_template(args.template).get("Globals") or {}).get("Function") or {})["AutoPublishAlias"]
        )
    except (TemplateError, KeyError) as error:
        print(f"check-live-is-latest: {error}", file=sys.stderr)
        return 1
    session = boto3.Session(region_name=config.region)
    resources = session.client("cloudformation").get_paginator("list_stack_resources")
    functions = [
        resource["PhysicalResourceId"]
        for page in resources.paginate(StackName=config.stack_name)
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::Lambda::Function"
    ]
    lagging = behind(session.client("lambda"), functions, alias)
    if lagging:
        print(report(lagging, alias), file=sys.stderr)
        return 1
    print(f"check-live-is-latest: `{alias}` runs what was deployed ({len(functions)} functions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
