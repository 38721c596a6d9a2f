"""The subcommands `upload`, `invoke`, `redrive` and `run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from asyncrun.cli.options import add_subcommand
from asyncrun.cli.session import Run, choose_bucket, finish, load, open_run, read_file, settle
from asyncrun.errors import CommandError


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

    run = add_subcommand(
        subparsers,
        "run",
        help="run the stack with nothing sent to it, for --run-for (default 1h): its schedules fire",
    )
    run.set_defaults(handler=run_stack)


def run_upload(args: argparse.Namespace) -> int:
    body = read_file(args.file)
    stack = load(args)
    bucket = choose_bucket(stack, args.bucket)
    key = args.key or args.file.name
    with open_run(args, stack=stack) as run:
        run.endpoint.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        settle(run)
        return finish(run, notes={"upload": {"bucket": bucket, "key": key}})


def run_invoke(args: argparse.Namespace) -> int:
    if args.payload_file is not None:
        payload = sys.stdin.buffer.read() if str(args.payload_file) == "-" else read_file(args.payload_file)
    else:
        payload = (args.payload or "").encode()
    with open_run(args) as run:
        request_id = run.engine.invoke_async(args.function, payload, qualifier=args.qualifier)
        settle(run)
        return finish(run, notes={"request_id": request_id})


def run_redrive(args: argparse.Namespace) -> int:
    from asyncrun.cli.redrive import RedriveError, choose_queue, redrive

    with open_run(args) as run:
        try:
            queue = choose_queue(run.stack, args.queue)
        except RedriveError as error:
            raise CommandError(str(error)) from None
        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must not be negative")
        report = redrive(run.engine, queue, limit=args.limit, dry_run=args.dry_run)
        if not args.dry_run:
            settle(run)
        return finish(run, notes={"redrive": report.as_dict()}, extra=redrive_lines(run, report))


def run_stack(args: argparse.Namespace) -> int:
    if args.run_for is None:
        args.run_for = 3600.0
    with open_run(args) as run:
        settle(run)
        return finish(run, notes={"ran_for_seconds": args.run_for})


def redrive_lines(run: Run, report: Any) -> list[str]:
    from asyncrun.service.trace_text import Names

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
