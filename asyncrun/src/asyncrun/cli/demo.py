"""`asyncrun demo`: play a scenario file against the stack — upload files, inject the
faults the scenario names, deliver notifications twice — and show what happened.

The scenario stays generic (asyncrun knows nothing of the stack's code):

    {"title": "...", "bucket": "optional name or logical id",
     "uploads": [{"file": "samples/a.csv", "key": "incoming/a.csv", "note": "why",
                  "faults": [{"function": "ProcessFunction", "kind": "error", "times": 1}],
                  "duplicate": false}]}

A fault of an upload applies only to events whose payload holds the upload's key (as
S3 writes it in the event). `duplicate: true` re-delivers the notification of the
earlier upload of the same key instead of uploading again (a second put would be a
new object version, not a duplicate): it is a `duplicate` fault on the notified
function, so it happens when that earlier upload's notification arrives."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from asyncrun.cli.options import add_subcommand
from asyncrun.cli.session import Run, choose_bucket, finish, load, open_run
from asyncrun.errors import CommandError
from asyncrun.service.s3events import s3_key_encode

if TYPE_CHECKING:
    from asyncrun.service.faults import Fault
    from asyncrun.stack.model import Stack

DEFAULT_SCENARIO = Path("samples/demo.json")
SAMPLE_ROWS = 10


class ScenarioFault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: str
    kind: Literal["error", "throttle", "duplicate"]
    probability: float = Field(default=1.0, ge=0, le=1)
    times: int | None = Field(default=None, ge=0)


class Upload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    key: str = Field(min_length=1)
    note: str = ""
    faults: list[ScenarioFault] = Field(default_factory=list)
    duplicate: bool = False


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = ""
    bucket: str | None = None
    uploads: list[Upload]


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CommandError(f"no such scenario file: {path}") from None
    try:
        return Scenario.model_validate_json(text)
    except PydanticValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CommandError(f"{path}: {where}: {first['msg']}") from None


def find_file(name: str, *, folders: list[Path]) -> Path:
    """A scenario's file, relative to the template's folder, else the scenario's."""
    candidate = Path(name)
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
    else:
        for folder in folders:
            if (folder / candidate).is_file():
                return folder / candidate
    raise CommandError(f"scenario file {name!r} not found (looked in {', '.join(str(f) for f in folders)})")


def notified_function(stack: Stack, bucket_name: str) -> str:
    """The logical id of the function the bucket's first Lambda notification invokes."""
    bucket = stack.find_bucket(bucket_name)
    if not bucket.notifications:
        raise CommandError(f"bucket {bucket.logical_id} notifies no function: duplicates cannot be delivered")
    spec, _ = stack.find_function(bucket.notifications[0].function_arn)
    return spec.logical_id


def scenario_faults(scenario: Scenario, stack: Stack, bucket_name: str) -> list[Fault]:
    from asyncrun.service.faults import Fault

    faults: list[Fault] = []
    for upload in scenario.uploads:
        match = s3_key_encode(upload.key)
        for fault in upload.faults:
            try:
                stack.find_function(fault.function)
            except KeyError:
                raise CommandError(
                    f"scenario fault names no function of the stack: {fault.function!r}"
                ) from None
            faults.append(Fault(fault.function, fault.kind, fault.probability, fault.times, match))
        if upload.duplicate:
            faults.append(Fault(notified_function(stack, bucket_name), "duplicate", 1.0, 1, match))
    return faults


def register(subparsers: Any) -> None:
    parser = add_subcommand(
        subparsers,
        "demo",
        help="play a scenario (uploads, faults, duplicates) against the stack and show what happened",
    )
    parser.add_argument(
        "--scenario", type=Path, help=f"scenario file (default: {DEFAULT_SCENARIO} beside the template)"
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    stack = load(args)
    template_folder = stack.template_path.parent
    scenario_path = args.scenario or template_folder / DEFAULT_SCENARIO
    scenario = load_scenario(Path(scenario_path))
    folders = [template_folder, Path(scenario_path).resolve().parent, Path.cwd()]
    files = [find_file(upload.file, folders=folders) for upload in scenario.uploads]
    bucket = choose_bucket(stack, scenario.bucket)
    faults = scenario_faults(scenario, stack, bucket)
    with open_run(args, stack=stack, faults=faults) as run:
        if scenario.title:
            run.live.note(scenario.title)
        put_keys: dict[str, int] = {}
        total = len(scenario.uploads)
        duplicated_by = {
            upload.key: number
            for number, upload in reversed(list(enumerate(scenario.uploads, start=1)))
            if upload.duplicate
        }
        for number, (upload, path) in enumerate(zip(scenario.uploads, files, strict=True), start=1):
            heading = f"[{number}/{total}] {upload.key}" + (f" — {upload.note}" if upload.note else "")
            if not upload.duplicate and upload.key in duplicated_by and upload.key not in put_keys:
                heading += f" (its notification is delivered twice: see {duplicated_by[upload.key]})"
            if upload.duplicate and upload.key in put_keys:
                run.live.note(heading)
                run.live.note(
                    f"        its notification was delivered twice with upload {put_keys[upload.key]}"
                )
                continue
            run.live.note(heading)
            put_keys.setdefault(upload.key, number)
            run.endpoint.client("s3").put_object(Bucket=bucket, Key=upload.key, Body=path.read_bytes())
            run.engine.run_until_idle()
        records = failure_records(run)
        return finish(
            run,
            sample_rows=SAMPLE_ROWS,
            notes={"scenario": str(scenario_path), "failure_records": records},
            extra=failure_lines(run, records),
        )


def failure_records(run: Run) -> list[dict[str, Any]]:
    """The invocation records in the stack's failure queues, briefly, left in place."""
    from asyncrun.cli.redrive import failure_queues, invocation_record, peek

    found: list[dict[str, Any]] = []
    for queue in failure_queues(run.stack):
        for body in peek(run.endpoint, queue):
            record, _ = invocation_record(body)
            if record is None:
                found.append({"queue": queue.logical_id, "body": body[:200]})
                continue
            context = record["requestContext"]
            response = record.get("responsePayload")
            error = response if isinstance(response, dict) else {}
            found.append(
                {
                    "queue": queue.logical_id,
                    "function_arn": context.get("functionArn"),
                    "request_id": context.get("requestId"),
                    "condition": context.get("condition"),
                    "attempts": context.get("approximateInvokeCount"),
                    "error_type": error.get("errorType"),
                    "error_message": error.get("errorMessage"),
                }
            )
    return found


def failure_lines(run: Run, records: list[dict[str, Any]]) -> list[str]:
    from asyncrun.service.trace_text import Names

    if not records:
        return ["Failure records: none"]
    names = Names(run.stack)
    lines = [f"Failure records ({len(records)}), left in place for `asyncrun redrive`:"]
    for record in records:
        if "function_arn" not in record:
            lines.append(f"  {record['queue']}: not an invocation record: {json.dumps(record['body'])[:80]}")
            continue
        error = f"{record['error_type']}: {record['error_message']}" if record.get("error_type") else "-"
        if len(error) > 100:
            error = error[:99] + "…"
        lines.append(
            f"  {record['queue']}: {names.target(str(record['function_arn']))} "
            f"{str(record['request_id'])[:8]} {record['condition']} after {record['attempts']} — {error}"
        )
    return lines
