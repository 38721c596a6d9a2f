"""The options every running subcommand shares, and how they are parsed: argparse
parents for the common options, SAM-style `--parameter-overrides`, `--fault`."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncrun.errors import CommandError
from asyncrun.service.concurrency import DEFAULT_ACCOUNT_CONCURRENCY

if TYPE_CHECKING:
    from asyncrun.service.faults import AnyFault

PROG = "asyncrun"
EXIT_OK = 0
EXIT_ERROR = 2
_LIST_OPTIONS = ("faults", "parameter_overrides")
# process: an OS process per execution environment (the default); thread: handlers in
# this process, for a debugger, not isolated; sam-local: Lambda runtime containers.
EXECUTORS = ("process", "thread", "sam-local")


def common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every running subcommand takes, before or after its name. Copies on
    the subcommands default to SUPPRESS so they never undo a value given before the name;
    list options there go to `<dest>_late` and are merged afterwards."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    late = "_late" if suppress else ""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--template", "-t", default=default("template.yaml"), help="SAM template (default: template.yaml)"
    )
    group.add_argument(
        "--endpoint-url", default=default(None), help="use this endpoint instead of an embedded moto"
    )
    group.add_argument(
        "--parameter-overrides",
        dest=f"parameter_overrides{late}",
        action="append",
        default=default([]),
        metavar="KEY=VALUE",
        help="template parameters, as `sam deploy` takes them: K=V ... or one string 'K=V K2=V2'",
    )
    group.add_argument(
        "--config-env", default=default("default"), help="samconfig environment (default: default)"
    )
    group.add_argument(
        "--stack-name", default=default(None), help="stack name (default: samconfig's, else sam-app)"
    )
    group.add_argument(
        "--region", default=default(None), help="region (default: samconfig's, else us-east-1)"
    )
    group.add_argument(
        "--realtime", action="store_true", default=default(False), help="wait retries out for real"
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print a JSON report on stdout"
    )
    group.add_argument(
        "--fault",
        dest=f"faults{late}",
        action="append",
        default=default([]),
        metavar="FUNCTION:KIND[:PROBABILITY][:TIMES]",
        help="inject a fault; repeatable. Kinds: error, timeout, crash, throttle, duplicate. "
        "FUNCTION:aws:SERVICE[.OPERATION]:KIND[:PROBABILITY][:TIMES] fails the function's own AWS calls "
        "instead (kinds: throttle, unavailable, error; e.g. ProcessFunction:aws:dynamodb:throttle, "
        "UploadFunction:aws:s3.GetObject:error); TIMES counts requests, the SDK's retries included; "
        "embedded endpoint only",
    )
    group.add_argument("--seed", type=int, default=default(None), help="seed for fault probabilities")
    group.add_argument(
        "--account-concurrency",
        type=int,
        default=default(DEFAULT_ACCOUNT_CONCURRENCY),
        metavar="N",
        help="the account's concurrency limit (default: 1000); functions without "
        "ReservedConcurrentExecutions share what reservations leave of it, and at least 100 stays unreserved",
    )
    group.add_argument(
        "--run-for",
        type=parse_duration,
        default=default(None),
        metavar="DURATION",
        help="keep the clock running this long (90s, 15m, 2h, 1d) so schedules fire; without it a run "
        "ends when nothing is queued, and schedules fire only while other work remains",
    )
    group.add_argument(
        "--html",
        type=Path,
        default=default(None),
        metavar="FILE",
        help="after the run, write its timeline to FILE: one self-contained HTML page",
    )
    group.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=default("process"),
        help="where the functions run: `process`, an OS process per execution environment (default); "
        "`thread`, a thread of this process, to step through a handler in a debugger (not isolated: "
        "shared interpreter and libraries, timeouts cannot stop it, no logs kept); or `sam-local`, "
        "Lambda runtime containers through `sam local start-lambda` (needs a container engine; without "
        "--endpoint-url a moto container is started for the run)",
    )
    group.add_argument(
        "--max-environments",
        type=positive_int,
        default=default(None),
        metavar="N",
        help="with --executor process: at most N execution environments per function version (default: 8). "
        "Lambda starts one for every attempt that runs at once; past N they share them (a warning says so). "
        "1 is the fastest run, with one cold start per function",
    )
    group.add_argument(
        "--function-endpoint-url",
        default=default(None),
        metavar="URL",
        help="with --executor sam-local and --endpoint-url: the endpoint as functions in containers "
        "reach it (default: the --endpoint-url)",
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=default(0), help="debug logs and the functions' own output"
    )
    return parser


def max_environments(args: argparse.Namespace) -> int | None:
    """--max-environments, refused where it would change nothing: only the process
    executor starts environments per attempt (thread and sam-local keep one per function)."""
    number: int | None = getattr(args, "max_environments", None)
    executor = getattr(args, "executor", "process")
    if number is not None and executor != "process":
        raise CommandError(
            f"--max-environments applies to --executor process; --executor {executor} runs one attempt "
            "of a function at a time"
        )
    return number


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not at least 1")
    return number


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 2h or 1d") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return seconds


def add_subcommand(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser that takes the common options too."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, parents=[common_options(suppress=True)], **kwargs
    )
    # Subcommands registered elsewhere (serve) set up logging their own way.
    parser.set_defaults(front_logging=True)
    return parser


def expand_overrides_argv(argv: Sequence[str]) -> list[str]:
    """`--parameter-overrides A=1 B=2` takes every following KEY=VALUE word; argparse
    would also swallow the subcommand's name, so the words are split up front."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word != "--parameter-overrides":
            out.append(word)
            continue
        taken = []
        while index < len(argv) and "=" in argv[index] and not argv[index].startswith("-"):
            taken.append(argv[index])
            index += 1
        if taken:
            out.extend(f"--parameter-overrides={value}" for value in taken)
        else:
            out.append(word)
    return out


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """Each value is one `K=V` (the shell has already split words) or, SAM style, one
    string of several `K=V K2='a b'` pairs."""
    from asyncrun.stack.samconfig import parse_parameter_overrides

    overrides: dict[str, str] = {}
    for value in values:
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value]
        if len(words) > 1 and all("=" in word for word in words):
            overrides.update(parse_parameter_overrides(value, "--parameter-overrides"))
            continue
        key, separator, text = value.partition("=")
        if not separator or not key:
            raise CommandError(f"--parameter-overrides: {value!r} is not KEY=VALUE")
        overrides.update(parse_parameter_overrides(shlex.quote(key) + "=" + shlex.quote(text)))
    return overrides


def parse_faults(texts: Sequence[str]) -> list[AnyFault]:
    from asyncrun.service.faults import parse_fault

    faults = []
    for text in texts:
        try:
            faults.append(parse_fault(text))
        except ValueError as error:
            raise CommandError(f"--fault: {error}") from None
    return faults


def merge_late_lists(args: argparse.Namespace) -> argparse.Namespace:
    """List options given after the subcommand's name join those given before it."""
    for name in _LIST_OPTIONS:
        if hasattr(args, f"{name}_late"):
            setattr(args, name, [*getattr(args, name, []), *getattr(args, f"{name}_late")])
    return args
