"""`asyncrun`: run a SAM template's functions with Lambda's asynchronous invocation
semantics, locally.

Subcommands register themselves through `register(subparsers)` functions listed in
`SUBCOMMANDS` (by module, imported when the parser is built); each sets a `handler`
default that takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from asyncrun.containers import SamLocalExecutor
    from asyncrun.endpoint import Endpoint
    from asyncrun.engine import Engine
    from asyncrun.executor import Executor
    from asyncrun.faults import Fault
    from asyncrun.report import LiveTrace
    from asyncrun.stack import Stack

PROG = "asyncrun"
EXIT_OK = 0
EXIT_ERROR = 2
# Modules whose `register(subparsers)` adds a subcommand, in the order `--help` lists them.
SUBCOMMANDS: list[str] = ["asyncrun.demo", "asyncrun.cli", "asyncrun.serve"]
_LIST_OPTIONS = ("faults", "parameter_overrides")
# process: an OS process per execution environment (the default); thread: handlers in
# this process, for a debugger, not isolated; sam-local: Lambda runtime containers.
EXECUTORS = ("process", "thread", "sam-local")


class CommandError(Exception):
    """A reason to stop with a one-line message and exit status 2."""


# ---------------------------------------------------------------------- options
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
        help="inject a fault (kinds: error, throttle, duplicate); repeatable",
    )
    group.add_argument("--seed", type=int, default=default(None), help="seed for fault probabilities")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a SAM template's functions locally with Lambda's asynchronous invocation semantics: "
        "queue, retries on a virtual clock, event age, destinations, dead-letter queues, S3 notifications.",
        parents=[common_options(suppress=False)],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMANDS:
        module = sys.modules[__name__] if module_name == __name__ else importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def add_subcommand(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser that takes the common options too."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, parents=[common_options(suppress=True)], **kwargs
    )
    # Subcommands registered elsewhere (serve) set up logging their own way.
    parser.set_defaults(front_logging=True)
    return parser


def register(subparsers: Any) -> None:
    """The subcommands defined here: upload, invoke, redrive."""
    upload = add_subcommand(
        subparsers, "upload", help="put a file into a bucket and run what it triggers until idle"
    )
    upload.add_argument("file", type=Path, help="the file to upload")
    upload.add_argument("--key", help="object key (default: the file's name)")
    upload.add_argument(
        "--bucket", help="bucket name or logical id (default: the only bucket that notifies a function)"
    )
    upload.set_defaults(handler=run_upload)

    invoke = add_subcommand(subparsers, "invoke", help="invoke a function asynchronously and run until idle")
    invoke.add_argument("function", help="logical id, name or ARN")
    payload = invoke.add_mutually_exclusive_group()
    payload.add_argument("--payload", help="the event, as JSON (default: {})")
    payload.add_argument("--payload-file", type=Path, help="read the event from a file ('-': standard input)")
    invoke.add_argument("--qualifier", help="version or alias")
    invoke.set_defaults(handler=run_invoke)

    redrive = add_subcommand(
        subparsers, "redrive", help="re-invoke the functions of the failure records in a queue"
    )
    redrive.add_argument("--limit", type=int, help="redrive at most this many records")
    redrive.add_argument("--dry-run", action="store_true", help="list what would be redriven; change nothing")
    redrive.add_argument("--queue", help="queue name or logical id (default: the stack's failure queue)")
    redrive.set_defaults(handler=run_redrive)


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
    from asyncrun.samconfig import parse_parameter_overrides

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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(expand_overrides_argv(sys.argv[1:] if argv is None else argv))
    for name in _LIST_OPTIONS:
        if hasattr(args, f"{name}_late"):
            setattr(args, name, [*getattr(args, name, []), *getattr(args, f"{name}_late")])
    return args


# ---------------------------------------------------------------------- a run
@dataclass
class Run:
    """A stack loaded, provisioned and ready in an engine, with its live trace."""

    args: argparse.Namespace
    stack: Stack
    endpoint: Endpoint
    engine: Engine
    live: LiveTrace
    report_stream: TextIO  # where the summary goes (stdout, or stderr with --json)
    stdout: TextIO  # the real standard output (the functions' output goes elsewhere)
    wall_started: float = field(default_factory=time.perf_counter)
    clock_started: float = 0.0


def load(args: argparse.Namespace) -> Stack:
    from asyncrun.template import load_stack

    return load_stack(
        Path(args.template),
        stack_name=args.stack_name,
        parameter_overrides=parse_overrides(args.parameter_overrides),
        config_env=args.config_env,
        region=args.region,
    )


def parse_faults(texts: Sequence[str]) -> list[Fault]:
    from asyncrun.faults import Fault

    faults = []
    for text in texts:
        try:
            faults.append(Fault.parse(text))
        except ValueError as error:
            raise CommandError(f"--fault: {error}") from None
    return faults


@contextlib.contextmanager
def open_run(
    args: argparse.Namespace, *, stack: Stack | None = None, faults: Sequence[Fault] = ()
) -> Iterator[Run]:
    """Loads, provisions and builds the engine; the functions' own output (their logs)
    goes to stderr with -v and nowhere otherwise, so the trace stays readable and
    --json output stays parseable."""
    from asyncrun.clock import RealClock, VirtualClock
    from asyncrun.endpoint import Endpoint
    from asyncrun.engine import Engine
    from asyncrun.provision import provision
    from asyncrun.report import LiveTrace

    stack = stack or load(args)
    all_faults = [*parse_faults(args.faults), *faults]
    real_stdout = sys.stdout
    report_stream = sys.stderr if args.json else real_stdout
    with contextlib.ExitStack() as cleanup:
        # sam-local: (the endpoint as this process reaches it, as the containers reach it)
        urls: tuple[str, str] | None = None
        if args.executor == "sam-local":
            _stop_on_sigterm(cleanup)
            urls = _container_endpoints(args, cleanup, report_stream)
        endpoint = Endpoint(urls[0] if urls else args.endpoint_url, stack.region)
        endpoint.start()
        cleanup.callback(endpoint.stop)
        provision(stack, endpoint)
        live = LiveTrace(stack, report_stream, function_logs=bool(args.verbose))
        clock = RealClock() if args.realtime else VirtualClock()
        executor: Executor | None = _start_sam_local(args, stack, *urls, cleanup, live) if urls else None
        if executor is None:
            executor = local_executor(args.executor, endpoint, stack.region)
            cleanup.callback(getattr(executor, "close", lambda: None))
        engine = Engine(
            stack,
            endpoint,
            clock=clock,
            faults=all_faults,
            listeners=[live],
            seed=args.seed,
            executor=executor,
        )
        sink: TextIO = sys.stderr if args.verbose else cleanup.enter_context(open(os.devnull, "w"))
        cleanup.enter_context(contextlib.redirect_stdout(sink))
        if not args.verbose:  # the functions' warnings too; the trace and logging hold their own streams
            cleanup.enter_context(contextlib.redirect_stderr(sink))
        yield Run(args, stack, endpoint, engine, live, report_stream, real_stdout, clock_started=clock.now())


def local_executor(kind: str, endpoint: Endpoint, region: str) -> Executor:
    """The executor `--executor process` or `--executor thread` names."""
    from asyncrun.environments import ProcessExecutor
    from asyncrun.executor import ThreadExecutor

    if kind == "thread":
        return ThreadExecutor(endpoint, region=region)
    return ProcessExecutor(endpoint, region=region)


def _container_endpoints(
    args: argparse.Namespace, cleanup: contextlib.ExitStack, report_stream: TextIO
) -> tuple[str, str]:
    """(the endpoint as this process reaches it, as functions in containers reach it).
    Without --endpoint-url: a moto container on the functions' network, stopped on exit."""
    from asyncrun.containers import MotoContainer
    from asyncrun.samlocal import SamLocalError

    if args.endpoint_url:
        function_url = args.function_endpoint_url or args.endpoint_url
        if _is_loopback(function_url):
            raise CommandError(
                f"--executor sam-local: functions in containers cannot reach {function_url} (this "
                "machine's loopback); give --function-endpoint-url, or leave out --endpoint-url to "
                "start a moto container"
            )
        return args.endpoint_url, function_url
    if args.function_endpoint_url:
        raise CommandError("--function-endpoint-url needs --endpoint-url")
    print(
        "asyncrun: starting a moto container for the functions in containers", file=report_stream, flush=True
    )
    try:
        moto = MotoContainer().start()
    except SamLocalError as error:
        raise CommandError(f"--executor sam-local: {error}") from None
    cleanup.callback(moto.stop)
    return moto.host_url, moto.container_url


def _start_sam_local(
    args: argparse.Namespace,
    stack: Stack,
    endpoint_url: str,
    function_endpoint_url: str,
    cleanup: contextlib.ExitStack,
    live: LiveTrace,
) -> SamLocalExecutor:
    from asyncrun.containers import SamLocalExecutor
    from asyncrun.samlocal import SamLocalError

    live.note("Starting the functions in Lambda runtime containers (sam local start-lambda)")
    try:
        executor = SamLocalExecutor(
            stack,
            endpoint_url=endpoint_url,
            function_endpoint_url=function_endpoint_url,
            output=sys.stderr if args.verbose else None,
        )
        cleanup.callback(executor.close)
        return executor.start()
    except SamLocalError as error:
        raise CommandError(f"--executor sam-local: {error}") from None


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _stop_on_sigterm(cleanup: contextlib.ExitStack) -> None:
    """SIGTERM stops the run the way Ctrl-C does, so containers are removed on the way out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    cleanup.callback(signal.signal, signal.SIGTERM, previous)


def finish(
    run: Run, *, sample_rows: int = 0, notes: dict[str, Any] | None = None, extra: Sequence[str] = ()
) -> int:
    """Prints the summary (and, with --json, the JSON report) of a finished run."""
    from asyncrun.report import RunOutcome, json_report, print_json, snapshot, summary_lines

    run.live.flush()
    outcome = RunOutcome(
        stack=run.stack,
        trace=run.engine.trace,
        deliveries=run.engine.deliveries,
        metrics=run.engine.metrics.as_dict(),
        resources=snapshot(run.stack, run.endpoint, sample=sample_rows),
        virtual_seconds=run.engine.clock.now() - run.clock_started,
        wall_seconds=time.perf_counter() - run.wall_started,
        notes=notes or {},
    )
    if run.args.json:
        print_json(json_report(outcome), run.stdout)
        return EXIT_OK
    lines = ["", *summary_lines(outcome, sample_rows=sample_rows), *extra]
    print("\n".join(lines), file=run.report_stream, flush=True)
    return EXIT_OK


# ---------------------------------------------------------------------- subcommands
def notified_buckets(stack: Stack) -> list[str]:
    return [logical_id for logical_id, bucket in stack.buckets.items() if bucket.notifications]


def choose_bucket(stack: Stack, reference: str | None) -> str:
    """The bucket's name: the one given (name or logical id), else the only bucket with
    a Lambda notification."""
    if reference:
        try:
            return stack.find_bucket(reference).name
        except KeyError:
            choices = ", ".join(stack.buckets) or "none"
            raise CommandError(
                f"no bucket {reference!r} in stack {stack.name} (buckets: {choices})"
            ) from None
    candidates = notified_buckets(stack)
    if len(candidates) == 1:
        return stack.buckets[candidates[0]].name
    if not candidates:
        choices = ", ".join(stack.buckets) or "none"
        raise CommandError(
            f"no bucket of stack {stack.name} notifies a function; choose one with --bucket ({choices})"
        )
    raise CommandError(
        f"several buckets notify functions ({', '.join(candidates)}); choose one with --bucket"
    )


def run_upload(args: argparse.Namespace) -> int:
    body = _read_file(args.file)
    stack = load(args)
    bucket = choose_bucket(stack, args.bucket)
    key = args.key or args.file.name
    with open_run(args, stack=stack) as run:
        run.endpoint.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        run.engine.run_until_idle()
        return finish(run, notes={"upload": {"bucket": bucket, "key": key}})


def run_invoke(args: argparse.Namespace) -> int:
    if args.payload_file is not None:
        payload = sys.stdin.buffer.read() if str(args.payload_file) == "-" else _read_file(args.payload_file)
    else:
        payload = (args.payload or "").encode()
    with open_run(args) as run:
        request_id = run.engine.invoke_async(args.function, payload, qualifier=args.qualifier)
        run.engine.run_until_idle()
        return finish(run, notes={"request_id": request_id})


def run_redrive(args: argparse.Namespace) -> int:
    from asyncrun.redrive import RedriveError, choose_queue, redrive

    with open_run(args) as run:
        try:
            queue = choose_queue(run.stack, args.queue)
        except RedriveError as error:
            raise CommandError(str(error)) from None
        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must not be negative")
        report = redrive(run.engine, queue, limit=args.limit, dry_run=args.dry_run)
        if not args.dry_run:
            run.engine.run_until_idle()
        return finish(run, notes={"redrive": report.as_dict()}, extra=redrive_lines(run, report))


def redrive_lines(run: Run, report: Any) -> list[str]:
    from asyncrun.report import Names

    names = Names(run.stack)
    verb = "would redrive" if report.dry_run else "redriven"
    lines = [f"Redrive from {report.queue}: {len(report.redriven)} {verb}, {len(report.left)} left in place"]
    for item in report.redriven:
        new = f" -> {item.request_id[:8]}" if item.request_id else ""
        lines.append(
            f"  {names.target(item.function_arn)}  {item.original_request_id[:8]}{new}"
            f"  (was {item.condition})"
        )
    lines.extend(f"  left {item.message_id[:8]}: {item.reason}" for item in report.left)
    return lines


def _read_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a folder, not a file") from None
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None


# ---------------------------------------------------------------------- entry point
def configure_logging(verbosity: int) -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbosity:
        logging.getLogger("asyncrun").setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    from asyncrun.errors import AsyncrunError
    from asyncrun.samlocal import SamLocalError
    from asyncrun.template import TemplateError

    args = parse_args(argv)
    if getattr(args, "front_logging", False):
        configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except (CommandError, TemplateError) as error:
        return _fail(str(error))
    except AsyncrunError as error:
        return _fail(f"{error.code}: {error.message}")
    except SamLocalError as error:  # sam or a container failed during the run
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted")


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
