"""`make bench`: how fast the runner and the pipeline are, measured, never asserted.

Each section prints one table row; `--json` writes them all as one JSON document.
Sizes are small enough for a 2-core machine and a few minutes in all."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncrun.runtimes import default_executor  # noqa: E402
from asyncrun.service.engine import Engine  # noqa: E402
from asyncrun.service.trace import AttemptFinished  # noqa: E402
from asyncrun.stack.endpoint import Endpoint  # noqa: E402
from asyncrun.stack.provision import provision  # noqa: E402
from asyncrun.stack.template import load_stack  # noqa: E402

FUNCTIONS = ("upload", "process", "audit")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drain(endpoint: Endpoint, queue_url: str) -> int:
    """Empties a queue in long runs: moto's SQS slows down as a queue fills."""
    sqs, count = endpoint.client("sqs"), 0
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        count += len(messages)
    return count


def bench_engine(events: int) -> dict:
    """Events through the queue: half succeed at once, half fail three times and go to
    OnFailure after 180 virtual seconds of retries."""
    with Endpoint() as endpoint:
        stack = load_stack(ROOT / "bench/templates/throughput.yaml", stack_name="bench")
        provision(stack, endpoint)
        engine = Engine(stack, endpoint, executor=default_executor(stack, endpoint))
        started = time.perf_counter()
        for n in range(events):
            engine.invoke_async("Echo" if n % 2 else "Failing", {"n": n})
        accepted = time.perf_counter() - started
        virtual_start = engine.clock.now()
        engine.run_until_idle()
        elapsed = time.perf_counter() - started
        attempts = sum(1 for e in engine.trace if isinstance(e, AttemptFinished))
        delivered = sum(drain(endpoint, q.url) for q in stack.queues.values())
        return {
            "bench": "engine",
            "events": events,
            "attempts": attempts,
            "records_delivered": delivered,
            "wall_s": round(elapsed, 2),
            "accept_per_s": round(events / accepted),
            "attempts_per_s": round(attempts / elapsed),
            "virtual_s": round(engine.clock.now() - virtual_start),
            "peak_rss_mb": round(peak_rss_mb()),
        }


def bench_pipeline(megabytes: int) -> dict:
    """One large upload through the project's pipeline, in process: the upload stage
    hashes it in one streamed pass and the process stage parses it row by row.
    `traced_peak_mb` counts every Python allocation during the run, moto's own
    in-memory copies of the object included (about two object sizes), so it is an
    upper bound on what the stages hold."""
    header = b"order_id,customer_id,sku,quantity,unit_price,currency\n"
    row = b"ORD-%08d,CUST-%05d,SKU-%04d,%d,%d.%02d,%s\n"
    lines, size, n = [header], len(header), 0
    while size < megabytes * 1024 * 1024:
        line = row % (n, n % 9973, n % 977, 1 + n % 9, n % 500, n % 100, b"EUR" if n % 3 else b"USD")
        lines.append(line)
        size += len(line)
        n += 1
    body = b"".join(lines)
    del lines
    with Endpoint() as endpoint:
        stack = load_stack(ROOT / "template.yaml")
        provision(stack, endpoint)
        engine = Engine(stack, endpoint, executor=default_executor(stack, endpoint))
        bucket = next(b for b in stack.buckets.values() if b.notifications).name
        endpoint.client("s3").put_object(Bucket=bucket, Key="bench/large.csv", Body=body)
        del body
        tracemalloc.start()
        started = time.perf_counter()
        engine.run_until_idle()
        elapsed = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        durations = {e.function: e.duration_ms for e in engine.trace if isinstance(e, AttemptFinished)}
        by_logical = {f.name: f.logical_id for f in stack.functions.values()}
        stage = {by_logical[name]: round(ms) for name, ms in durations.items()}
        outcomes = sorted({e.outcome for e in engine.trace if isinstance(e, AttemptFinished)})
        return {
            "bench": "pipeline",
            "object_mb": megabytes,
            "rows": n,
            "outcomes": outcomes,
            "wall_s": round(elapsed, 2),
            "stage_ms": stage,
            "rows_per_s": round(n / (stage.get("ProcessFunction", 1) / 1000)),
            "traced_peak_mb": round(traced_peak / 2**20, 1),
        }


def bench_cold_imports(repeat: int) -> dict:
    """Import time of each handler in a fresh interpreter, as a cold start pays it."""
    layer = ROOT / "layers/shared"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployed package imports compiled modules
    result: dict = {"bench": "cold_import_ms"}
    for name in FUNCTIONS:
        code = (
            "import sys, time; t = time.perf_counter(); "
            f"sys.path[:0] = [{str(ROOT / 'functions' / name)!r}, {str(layer)!r}]; "
            "import app; print((time.perf_counter() - t) * 1000)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(repeat + 1)
        ][1:]  # the first run writes bytecode caches
        result[name] = round(statistics.median(runs))
    return result


def bench_demo() -> dict:
    """`asyncrun demo` end to end, as a person runs it (second run: caches warm)."""
    asyncrun = Path(sys.executable).parent / "asyncrun"
    times = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run([str(asyncrun), "demo"], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return {"bench": "demo", "first_s": round(times[0], 1), "second_s": round(times[1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--megabytes", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = []
    real_stdout = sys.stdout
    for bench in (
        lambda: bench_cold_imports(args.repeat),
        lambda: bench_engine(args.events),
        lambda: bench_pipeline(args.megabytes),
        bench_demo,
    ):
        # The functions log to standard output; only the results belong there.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            row = bench()
        results.append(row)
        print(json.dumps(row), file=real_stdout, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
