#!/usr/bin/env python3
"""Stop a deploy whose build holds native code for another architecture than the one the
stack's functions will run on (a layer built x86_64 for local containers, deployed to
arm64 functions, fails to import pydantic_core at the first invocation).

The stack's architecture is the template's `Architecture` parameter as `sam deploy
--config-env ENV` would resolve it: the default, overridden by samconfig.toml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asyncrun.stack.samconfig import read_samconfig
from asyncrun.stack.template import TemplateError, read_template, resolve_parameters

# CPython names an extension module after the machine it was built for:
# `_pydantic_core.cpython-313-aarch64-linux-gnu.so`.
MACHINE_OF = {"arm64": "aarch64", "x86_64": "x86_64"}
EXTENSION_SUFFIX = "-linux-gnu.so"


def problem(build_dir: Path, template: Path, config_env: str) -> str | None:
    """Why this build must not be deployed, or None."""
    overrides = read_samconfig(template.parent, config_env).parameter_overrides
    architecture = str(resolve_parameters(read_template(template), overrides)["Architecture"])
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        return f"{build_dir} holds no build: run `make build` first"
    extensions = sorted(path for path in build_dir.rglob(f"*{EXTENSION_SUFFIX}"))
    if not extensions:
        return f"{build_dir} holds no native extension to check: was the layer built?"
    foreign = [path for path in extensions if f"-{MACHINE_OF[architecture]}-" not in path.name]
    if foreign:
        return (
            f"{build_dir} was built for another architecture than the stack's {architecture} functions "
            f"({foreign[0].relative_to(build_dir)}): deploy a `make build`, never a `make build-local`"
        )
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--config-env", default="default")
    args = parser.parse_args()
    try:
        reason = problem(args.build_dir, args.template, args.config_env)
    except TemplateError as error:
        reason = str(error)
    if reason:
        print(f"check-deploy-architecture: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
