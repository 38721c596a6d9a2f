"""A run of the command line: the stack loaded and provisioned, the engine built with
its executor and live trace, and the summary printed at the end."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from asyncrun.cli.options import EXIT_OK, max_environments, parse_faults, parse_overrides
from asyncrun.errors import CommandError

if TYPE_CHECKING:
    from asyncrun.runtimes.containers import SamLocalExecutor
    from asyncrun.service.engine import Engine
    from asyncrun.service.executor import Executor
    from asyncrun.service.faults import AnyFault
    from asyncrun.service.trace_text import LiveTrace
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.model import Stack


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
    from asyncrun.stack.template import load_stack

    return load_stack(
        Path(args.template),
        stack_name=args.stack_name,
        parameter_overrides=parse_overrides(args.parameter_overrides),
        config_env=args.config_env,
        region=args.region,
    )


@contextlib.contextmanager
def open_run(
    args: argparse.Namespace, *, stack: Stack | None = None, faults: Sequence[AnyFault] = ()
) -> Iterator[Run]:
    """Loads, provisions and builds the engine; the functions' own output (their logs)
    goes to stderr with -v and nowhere otherwise, so the trace stays readable and
    --json output stays parseable."""
    from asyncrun.api.lambda_api import LambdaApi
    from asyncrun.runtimes import local_executor
    from asyncrun.service.clock import RealClock, VirtualClock
    from asyncrun.service.engine import Engine
    from asyncrun.service.trace_text import LiveTrace
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.provision import provision

    environments = max_environments(args)
    stack = stack or load(args)
    all_faults = [*parse_faults(args.faults), *faults]
    for fault in all_faults:  # a fault that can never trigger is a typo, not a quiet run
        try:
            stack.find_function(fault.function)
        except KeyError:
            raise CommandError(f"--fault: no function {fault.function!r} in stack {stack.name!r}") from None
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
        executor: Executor | None = None
        if not urls:  # first: its environments' template process starts beside provisioning
            executor = local_executor(args.executor, stack, endpoint, max_environments=environments)
            cleanup.callback(executor.close)
        provision(stack, endpoint)
        live = LiveTrace(stack, report_stream, function_logs=bool(args.verbose))
        clock = RealClock() if args.realtime else VirtualClock()
        if urls:
            executor = _start_sam_local(args, stack, *urls, cleanup, live)
        assert executor is not None
        engine = Engine(
            stack,
            endpoint,
            clock=clock,
            faults=all_faults,
            listeners=[live],
            seed=args.seed,
            executor=executor,
            account_concurrency=args.account_concurrency,
        )
        LambdaApi(stack, engine, lock=engine.lock).answer_functions()
        sink: TextIO = sys.stderr if args.verbose else cleanup.enter_context(open(os.devnull, "w"))
        cleanup.enter_context(contextlib.redirect_stdout(sink))
        if not args.verbose:  # the functions' warnings too; the trace and logging hold their own streams
            cleanup.enter_context(contextlib.redirect_stderr(sink))
        yield Run(args, stack, endpoint, engine, live, report_stream, real_stdout, clock_started=clock.now())


def _container_endpoints(
    args: argparse.Namespace, cleanup: contextlib.ExitStack, report_stream: TextIO
) -> tuple[str, str]:
    """(the endpoint as this process reaches it, as functions in containers reach it).
    Without --endpoint-url: a moto container on the functions' network, stopped on exit."""
    from asyncrun.errors import SamLocalError
    from asyncrun.runtimes.containers import MotoContainer

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
    from asyncrun.errors import SamLocalError
    from asyncrun.runtimes.containers import SamLocalExecutor

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
    from asyncrun.cli.report import RunOutcome, json_report, print_json, snapshot, summary_lines

    run.live.flush()
    if run.args.html:
        from asyncrun.api.timeline import write_page

        title = f"{run.stack.name} · asyncrun {run.args.command}"
        page = write_page(run.args.html, run.engine.trace, run.stack, title=title)
        notes = {**(notes or {}), "timeline": str(page)}
        extra = [*extra, f"Timeline: {page} (open it in a browser)"]
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


def settle(run: Run) -> None:
    """Runs what the command started: until idle, or with --run-for until the clock has
    run that long since the run began."""
    if run.args.run_for is None:
        run.engine.run_until_idle()
    else:
        run.engine.run_until(run.clock_started + run.args.run_for)


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


def read_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a folder, not a file") from None
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
