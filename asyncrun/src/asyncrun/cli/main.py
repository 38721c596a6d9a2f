"""`asyncrun`: run a SAM template's functions with Lambda's asynchronous invocation
semantics, locally.

Each subcommand module has a `register(subparsers)` that adds its parser with a
`handler` default taking the parsed arguments and returning the exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from asyncrun.cli import commands, demo, serve
from asyncrun.cli.options import EXIT_ERROR, PROG, common_options, expand_overrides_argv, merge_late_lists
from asyncrun.errors import AsyncrunError

# In the order `--help` lists them.
SUBCOMMANDS = (demo, commands, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a SAM template's functions locally with Lambda's asynchronous invocation semantics: "
        "queue, retries on a virtual clock, event age, destinations, dead-letter queues, "
        "S3, SNS, EventBridge and scheduled sources.",
        parents=[common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def installed_version() -> str:
    """The version of the installed distribution (its metadata, not a copy in the code)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncrun")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(expand_overrides_argv(sys.argv[1:] if argv is None else argv))
    return merge_late_lists(args)


def configure_logging(verbosity: int) -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbosity:
        logging.getLogger("asyncrun").setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if getattr(args, "front_logging", False):
        configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except AsyncrunError as error:  # a template, a command, a refused invoke, sam or a container
        return _fail(error.one_line())
    except KeyboardInterrupt:
        return _fail("interrupted")


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
