"""The subcommand `serve`: the Lambda API with asynchronous semantics, and moto, on
one local port (the server itself is `asyncrun.api.serve`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from typing import Any

from asyncrun.api.serve import ADMIN_PREFIX, DEFAULT_PORT, Server
from asyncrun.cli.options import add_subcommand, max_environments, parse_faults
from asyncrun.cli.session import load
from asyncrun.errors import CommandError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `serve` subcommand to the asyncrun CLI (`asyncrun.cli.SUBCOMMANDS`)."""

    parser = add_subcommand(
        subparsers,
        "serve",
        help="serve the Lambda API (with asynchronous semantics) and moto on one local port",
        description=(
            "Start a local endpoint speaking the Lambda API for the template's functions, with Lambda's "
            "asynchronous invocation (queue, retries, event age, destinations, DLQs), and S3, SQS, SNS, "
            "DynamoDB, EventBridge and CloudFormation from the embedded moto (or --endpoint-url) on the "
            "same port. Point the AWS CLI or boto3 at it with --endpoint-url. --realtime is the default "
            "here; --virtual-clock lets POST /_asyncrun/advance and /_asyncrun/drain skip waits."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free port)"
    )
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help=f"let {ADMIN_PREFIX}advance and {ADMIN_PREFIX}drain move the clock over waits",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print what the queue does")
    parser.set_defaults(handler=run_serve)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """The `serve` subcommand: prints where it listens, then serves until interrupted
    (Ctrl-C or SIGTERM). The functions' own output goes to stderr with -v, else nowhere."""
    from asyncrun.service.trace_text import LiveTrace

    if getattr(args, "executor", "process") == "sam-local":
        raise CommandError(
            "serve runs the functions in execution environments of its own (--executor process or "
            "thread); --executor sam-local works with upload, invoke, redrive and demo"
        )
    if getattr(args, "html", None):
        raise CommandError(f"--html is for runs; serve draws the timeline live at {ADMIN_PREFIX}")
    environments = max_environments(args)
    stack = load(args)
    faults = parse_faults(args.faults)
    out = sys.stdout
    listeners = [] if args.quiet else [LiveTrace(stack, out, function_logs=bool(args.verbose))]
    # A port in use: werkzeug says so and exits with status 1.
    server = Server(
        stack,
        host=args.host,
        port=args.port,
        endpoint_url=args.endpoint_url,
        virtual_clock=args.virtual_clock,
        faults=faults,
        seed=args.seed,
        account_concurrency=args.account_concurrency,
        listeners=listeners,
        executor=getattr(args, "executor", "process"),
        max_environments=environments,
    )
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    clock = f"virtual ({ADMIN_PREFIX}advance, {ADMIN_PREFIX}drain)" if args.virtual_clock else "real"
    backend = args.endpoint_url or "embedded moto"
    print(
        f"asyncrun serve: stack {stack.name}: {len(stack.functions)} functions, clock {clock}, "
        f"other services: {backend}\n"
        f"asyncrun serve: listening on {server.url}",
        file=out,
        flush=True,
    )
    with contextlib.ExitStack() as quiet:
        if not args.verbose:
            sink = quiet.enter_context(open(os.devnull, "w"))
            quiet.enter_context(contextlib.redirect_stdout(sink))
            quiet.enter_context(contextlib.redirect_stderr(sink))
        else:
            quiet.enter_context(contextlib.redirect_stdout(sys.stderr))
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    server.executor.close()
    print("asyncrun serve: stopped", file=out, flush=True)
    # Nothing is left to save, and tearing down moto's backends at interpreter exit
    # takes seconds: leave at once.
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)
