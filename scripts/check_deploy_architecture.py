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


def stack_architecture(template: Path, config_env: str) -> str:
    """The `Architecture` the stack's functions resolve to (template default, samconfig)."""
    overrides = read_samconfig(template.parent, config_env).parameter_overrides
    return str(resolve_parameters(read_template(template), overrides)["Architecture"])


def problem(build_dir: Path, template: Path, config_env: str) -> str | None:
    """Why this build must not be deployed, or None."""
    architecture = stack_architecture(template, config_env)
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        return f"{build_dir} holds no build: run `make build` first"
    extensions = sorted(path for path in build_dir.rglob(f"*{EXTENSION_SUFFIX}"))
    if not extensions:
        return f"{build_dir} holds no native extension to check: was the layer built?"
    # A module may be built for several machines side by side (a layer for both
    # architectures): each needs one for the stack's.
    machine = MACHINE_OF[architecture]
    machines_of: dict[Path, set[str]] = {}
    for path in extensions:
        stem, _, rest = path.name.partition(".cpython-")
        machines_of.setdefault(path.with_name(stem), set()).add(rest.split("-")[1] if "-" in rest else "")
    missing = sorted(module for module, machines in machines_of.items() if machine not in machines)
    if missing:
        return (
            f"{build_dir} was built for another architecture than the stack's {architecture} functions "
            f"({missing[0].relative_to(build_dir)} has no {machine} build): deploy a `make build`, "
            "never a `make build-local`"
        )
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument(
        "--print-architecture",
        action="store_true",
        help="print the architecture the stack's functions resolve to, and check nothing",
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--config-env", default="default")
    args = parser.parse_args()
    try:
        if args.print_architecture:
            print(stack_architecture(args.template, args.config_env))
            return 0
        reason = problem(args.build_dir, args.template, args.config_env)
    except TemplateError as error:
        reason = str(error)
    if reason:
        print(f"check-deploy-architecture: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
