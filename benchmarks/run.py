"""`make bench`: every figure beside a baseline measured in the same run, the ratio, the
goal and whether it is met; written to benchmarks/results.json and results.md.

Times are medians over repeated runs. The machine may be shared: cold starts are
counted in CPU time of the process (what the interpreter spends), which another
process's load does not inflate as it does wall time; everything else is wall time,
measured in pairs (a run and its baseline one after the other) so both see the same load."""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncrun.runtimes import default_executor, local_executor  # noqa: E402
from asyncrun.service.engine import Engine  # noqa: E402
from asyncrun.service.faults import Fault  # noqa: E402
from asyncrun.service.trace import AttemptFinished  # noqa: E402
from asyncrun.stack.endpoint import Endpoint  # noqa: E402
from asyncrun.stack.provision import provision  # noqa: E402
from asyncrun.stack.template import load_stack  # noqa: E402
from benchmarks.direct import STAGES, Pipeline, orders_csv, success_record  # noqa: E402
from benchmarks.figures import Figure, Goal, median, write_json, write_markdown  # noqa: E402
from tests.support.layer import RUNTIME_PROVIDED, distribution_of  # noqa: E402

HERE = ROOT / "benchmarks"
CACHE = ROOT / ".cache" / "bench"
TEMPLATE = ROOT / "template.yaml"
THROUGHPUT = HERE / "templates" / "throughput.yaml"
SMALL_UPLOAD = (ROOT / "samples" / "orders-2026-11-01.csv").read_bytes()


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- Lambda's paths


@functools.cache  # once a run: the cold starts and the sizes read the same build
def sam_built() -> Path:
    """`sam build` of the stack with the default parameters: its build folder."""
    build = CACHE / "sam-build"
    log("sam build")
    subprocess.run(
        [
            str(Path(sys.executable).parent / "sam"),
            "build",
            "--build-dir",
            str(build),
            "--cache-dir",
            str(CACHE / "sam-cache"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )
    return build


def built_layer(architectures: str) -> Path:
    """The shared layer built by its Makefile (what `sam build` runs) for the architectures named."""
    out = CACHE / f"layer-{architectures.replace(' ', '-')}"
    subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "layers/shared/Makefile"), "build-SharedLayer"],
        env={
            **os.environ,
            "ARTIFACTS_DIR": str(out),
            "PYTHON": sys.executable,
            "LAYER_ARCHITECTURES": architectures,
        },
        check=True,
        capture_output=True,
    )
    return out / "python"


def lambda_runtime_packages() -> Path:
    """boto3 and its dependencies at the locked versions, compiled: what the Lambda Python
    runtime puts on the path after the layers."""
    locked = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    pins = [f"{name}=={locked[name]}" for name in sorted(RUNTIME_PROVIDED)]
    folder = CACHE / ("runtime-" + hashlib.sha256(" ".join(pins).encode()).hexdigest()[:12])
    if not (folder / ".complete").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(folder), *pins],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(folder)], check=True, capture_output=True
        )
        (folder / ".complete").touch()
    return folder


# ---------------------------------------------------------------------- 1. cold start

# Peak memory from VmHWM: ru_maxrss would carry the parent's peak over the exec.
_COLD_PROBE = """
import json, sys, time
wall, cpu = time.perf_counter(), time.process_time()
sys.path[:0] = {paths!r}
{work}
cpu, wall = (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
then = time.process_time()
{then}
print(json.dumps([cpu, wall, peak, (time.process_time() - then) * 1000]))
"""
_BARE = "import boto3\nboto3.client('s3')"
_BARE_TRACED = (
    "import boto3\nfrom aws_xray_sdk.core import xray_recorder, patch_all\npatch_all()\nboto3.client('s3')"
)
_HANDLER = "import app\nfrom pipeline import clients\nclients.s3()"
# Models are built on first use, so the first invoke builds those it validates. Building
# every model the handler's modules define bounds that from above.
_BUILD_MODELS = """
from pydantic import BaseModel
for module in [m for name, m in list(sys.modules.items()) if name.startswith("pipeline.")]:
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
            value.model_rebuild()
"""
# The bare handler plus the libraries every handler needs: what is left is the pipeline's own.
_PYDANTIC = "\nimport pydantic.main"
_POWERTOOLS = "\nfrom aws_lambda_powertools import Logger, Metrics"


def _cold(paths: list[str], work: str, env: dict[str, str], then: str = "") -> list[float]:
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", _COLD_PROBE.format(paths=paths, work=work, then=then)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def _beyond_bare(samples: dict[str, list[list[float]]], name: str) -> float:
    """Median CPU milliseconds of `name` beyond the bare handler, round by round: the
    load moves between rounds far more than within one."""
    return median([s[0] - b[0] for s, b in zip(samples[name], samples["bare"], strict=True)])


def bench_cold_start(repeat: int) -> list[Figure]:
    """Each handler imported in a fresh interpreter (no site-packages: only the function's
    folder, the built layer and the runtime's boto3, all compiled) and its first client,
    against a bare handler that imports boto3 and creates one client; in rounds of one
    of each, so that all see the same load."""
    layer, runtime = sam_built() / "SharedLayer" / "python", lambda_runtime_packages()
    stack = load_stack(TEMPLATE)
    libraries_only = [str(layer), str(runtime)]
    figures = []
    libraries_ms = pydantic_ms = 0.0  # measured with tracing off, where nothing else differs
    for traced in (False, True):
        env = {"PATH": "", "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region}
        # Tracing as the deployed functions have it (Tracing: Active), or off as tests and
        # local runs have it.
        env |= {"LAMBDA_TASK_ROOT": "/var/task"} if traced else {"POWERTOOLS_TRACE_DISABLED": "true"}
        samples: dict[str, list[list[float]]] = {}
        for round_ in range(repeat + 1):
            bare = _BARE_TRACED if traced else _BARE
            measured = {"bare": _cold(libraries_only, bare, env)}
            if not traced:
                measured["pydantic"] = _cold(libraries_only, bare + _PYDANTIC, env)
                measured["libraries"] = _cold(libraries_only, bare + _PYDANTIC + _POWERTOOLS, env)
            for logical_id in STAGES:
                function = stack.functions[logical_id]
                paths = [str(function.code_dir), *libraries_only]
                measured[logical_id] = _cold(paths, _HANDLER, {**function.environment, **env}, _BUILD_MODELS)
            if round_:  # the first round warms the page cache
                for name, result in measured.items():
                    samples.setdefault(name, []).append(result)

        cpu = {name: median([s[0] for s in runs]) for name, runs in samples.items()}
        peak = {name: median([s[2] for s in runs]) for name, runs in samples.items()}
        models = {name: median([s[3] for s in runs]) for name, runs in samples.items()}
        if not traced:
            libraries_ms, pydantic_ms = _beyond_bare(samples, "libraries"), _beyond_bare(samples, "pydantic")

        mode = "X-Ray tracing on, as deployed" if traced else "tracing off"
        baseline = "bare handler: boto3, one client" + (", X-Ray SDK patching" if traced else "")
        for logical_id in STAGES:
            note = (
                f"import and first client, fresh interpreter; median of {repeat} rounds; "
                f"{_beyond_bare(samples, logical_id):.0f} ms beyond the bare handler (each round against "
                f"its own), where the goal leaves {0.25 * cpu['bare']:.0f} ms; "
                f"{libraries_ms:.0f} ms of it importing pydantic and Powertools (pydantic alone: "
                f"{pydantic_ms:.0f} ms; both measured with tracing off); models are built on first use: "
                f"building every model its modules define takes {models[logical_id]:.0f} ms more, "
                "an upper bound of what its first invoke adds"
            )
            figures.append(
                Figure(
                    f"cold start {logical_id} ({mode})",
                    cpu[logical_id],
                    cpu["bare"],
                    "ms CPU",
                    Goal(1.25),
                    baseline,
                    note,
                )
            )
            figures.append(
                Figure(
                    f"cold start peak memory {logical_id} ({mode})",
                    peak[logical_id],
                    peak["bare"],
                    "MB",
                    None,
                    baseline,
                    "peak resident memory; the issue sets no goal for it",
                )
            )
    return figures


# ---------------------------------------------------------------------- 2. warm stages


class DirectCalls:
    """Each stage's AWS calls made directly with boto3, with the same parameters (condition
    expressions, encryption, owner check) so that moto does the same work for both: what
    the stage would cost with no framework, models or validation. The process stage's
    baseline also reads the rows with the csv module, without validating them."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.s3 = pipeline.endpoint.client("s3")
        self.dynamodb = pipeline.endpoint.client("dynamodb")
        env = {k: v for e in pipeline.environments.values() for k, v in e.items()}
        self.process_table = env["PROCESS_TABLE_NAME"]
        self.idempotency_table = env["IDEMPOTENCY_TABLE_NAME"]
        self.audit_bucket = env["AUDIT_BUCKET_NAME"]
        self.account = pipeline.stack.functions["AuditFunction"].arn.split(":")[4]

    def upload(self, bucket: str, key: str, version: str) -> None:
        self.s3.head_object(Bucket=bucket, Key=key, VersionId=version)
        digest, body = hashlib.sha256(), self.s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)

    def _once(self, key: str, result: str) -> None:
        # Powertools Idempotency's two writes: an in-progress item unless a live one exists,
        # then the completed one with the result.
        now = time.time()
        item = {
            "id": {"S": key},
            "expiration": {"N": str(int(now) + 86_400)},
            "status": {"S": "INPROGRESS"},
            "in_progress_expiration": {"N": str(int(now * 1000) + 900_000)},
        }
        self.dynamodb.put_item(
            TableName=self.idempotency_table,
            Item=item,
            ConditionExpression=(
                "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
                "attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
            ),
            ExpressionAttributeNames={
                "#id": "id",
                "#expiry": "expiration",
                "#in_progress_expiry": "in_progress_expiration",
                "#status": "status",
            },
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":now_in_millis": {"N": str(int(now * 1000))},
                ":inprogress": {"S": "INPROGRESS"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        self.dynamodb.update_item(
            TableName=self.idempotency_table,
            Key={"id": {"S": key}},
            UpdateExpression="SET #response_data = :response_data, #expiry = :expiry, #status = :status",
            ExpressionAttributeNames={"#response_data": "data", "#expiry": "expiration", "#status": "status"},
            ExpressionAttributeValues={
                ":response_data": {"S": result},
                ":expiry": {"N": str(int(now) + 86_400)},
                ":status": {"S": "COMPLETED"},
            },
        )

    def process(self, bucket: str, key: str, version: str) -> None:
        import csv
        import io

        # The earlier outcome (a failure to repeat), then the outcome unless a processed one stands.
        self.dynamodb.get_item(
            TableName=self.process_table, Key={"upload_id": {"S": version}}, ConsistentRead=True
        )
        body = self.s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
        rows = sum(1 for _ in csv.DictReader(io.TextIOWrapper(body, encoding="utf-8-sig", newline="")))
        item = {"upload_id": {"S": version}, "rows": {"N": str(rows)}, "status": {"S": "PROCESSED"}}
        self.dynamodb.put_item(
            TableName=self.process_table,
            Item=item,
            ConditionExpression="attribute_not_exists(#key) OR #status <> :processed",
            ExpressionAttributeNames={"#key": "upload_id", "#status": "status"},
            ExpressionAttributeValues={":processed": {"S": "PROCESSED"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        self._once(f"process-{version}", "{}" * 1000)

    def audit(self, version: str) -> None:
        self.s3.put_object(
            Bucket=self.audit_bucket,
            Key=f"audit/{version}.json",
            Body=b"{}" * 1000,
            ContentType="application/json",
            ServerSideEncryption="AES256",
            IfNoneMatch="*",
            ExpectedBucketOwner=self.account,
        )
        self._once(f"audit-{version}", "{}" * 100)


def bench_warm_stages(repeat: int) -> list[Figure]:
    """Each stage's warm invocations back to back, as its own execution environment runs
    them, each beside its baseline; the stages one after another, each fed the records of
    the one before. Lambda never runs one function's work in another's environment: run
    round by round in one process, each stage paid for the memory and caches the stage
    before it had just churned (the audit stage about 2 ms on 2 cores)."""
    # A warm stage takes milliseconds: three times the rounds of the cold starts, in three
    # passes a few seconds apart, so that the median of each stage and of its baseline
    # holds still from run to run, and a moment of load on the machine falls on a third
    # of one stage's rounds at most.
    rounds, passes = 3 * repeat, 3
    body = orders_csv(1_000_000)
    rows = body.count(b"\n") - 1
    timings: dict[str, list[float]] = {}
    baselines: dict[str, list[float]] = {}
    with Endpoint() as endpoint, _quiet():
        stack = load_stack(TEMPLATE)
        provision(stack, endpoint)
        pipeline = Pipeline.load(stack, endpoint)
        direct = DirectCalls(pipeline)
        bucket = pipeline.upload_bucket()
        # Each stage's baseline, given the upload's key and version.
        baseline_calls: dict[str, Callable[[str, str], None]] = {
            "UploadFunction": functools.partial(direct.upload, bucket),
            "ProcessFunction": functools.partial(direct.process, bucket),
            "AuditFunction": lambda _key, version: direct.audit(version),
        }
        for pass_ in range(passes):
            keys = [f"bench/warm-{pass_}-{round_}.csv" for round_ in range(rounds)]
            events = [pipeline.put(key, body) for key in keys]
            versions = [event["Records"][0]["s3"]["object"]["versionId"] for event in events]
            for name in STAGES:
                following = []
                for round_, (event, key, version) in enumerate(zip(events, keys, versions, strict=True)):
                    baseline_call = functools.partial(baseline_calls[name], key, version)
                    # In turn first and second, so that neither always pays for what ran before it.
                    stage_first = round_ % 2 == 1
                    if not stage_first:
                        baseline_seconds = _seconds(baseline_call)
                    answer, request_id, stage_seconds = pipeline.timed_call(name, event)
                    if stage_first:
                        baseline_seconds = _seconds(baseline_call)
                    # The next stage's event, built outside the timing: Lambda's work, not the stage's.
                    following.append(success_record(stack.functions[name], event, answer, request_id))
                    if pass_ or round_:  # the very first round is each stage's cold invocation
                        timings.setdefault(name, []).append(stage_seconds * 1000)
                        baselines.setdefault(name, []).append(baseline_seconds * 1000)
                events = following
        validating, reading = _validation_split(body, repeat)
    figures = []
    for name in STAGES:
        value, baseline = median(timings[name]), median(baselines[name])
        note = (
            f"1 MB upload, {rows:,} rows; median of {len(timings[name])} warm invocations back to back, as "
            "the function's own environment runs them, each beside its baseline, in turn first and second"
        )
        if value > 1.2 * baseline:
            note += f"; {value - baseline:.0f} ms beyond the same calls"
        if name == "ProcessFunction":
            note += (
                f"; the rows in memory: validated and summed {validating:.0f} ms, read with "
                f"csv.DictReader {reading:.0f} ms ({(validating - reading) / rows * 1000:+.2f} µs a row)"
            )
        figures.append(
            Figure(
                f"warm duration {name}",
                value,
                baseline,
                "ms",
                Goal(1.2),
                "the same AWS calls with boto3"
                + (", rows read with csv" if name == "ProcessFunction" else ""),
                note,
            )
        )
    return figures


def _seconds(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _validation_split(body: bytes, repeat: int) -> tuple[float, float]:
    """Milliseconds to validate and sum the rows (the process stage's own work) and to
    read them with csv.DictReader (its baseline's), from memory: no AWS call in either."""
    import csv
    import io

    from pipeline.orders import summarize  # the layer is on the path once the handlers are loaded

    def text() -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline="")

    validating, reading = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        summarize(text(), "csv", max_samples=5)
        validating.append(time.perf_counter() - started)
        started = time.perf_counter()
        sum(1 for _ in csv.DictReader(text()))
        reading.append(time.perf_counter() - started)
    return median(validating) * 1000, median(reading) * 1000


# Never closed: Powertools' Logger keeps the stream it was built with.
_SINK = open(os.devnull, "w")  # noqa: SIM115


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The functions log to standard output; only the results belong there."""
    with contextlib.redirect_stdout(_SINK):
        yield


# ---------------------------------------------------------------------- 2b. memory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_answers(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - loopback
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process, so that the objects it holds are not counted
    in the function's memory."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answers(f"{url}/moto-api/", process, "the moto server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def memory_cases() -> dict[str, bytes]:
    wide_header = ",".join(
        ["order_id", "customer_id", "sku", "quantity", "unit_price", "currency"]
        + [f"extra_{i}" for i in range(4994)]
    )
    wide_row = "ORD-1,CUST-1,SKU-1,1,1.00,EUR" + ",x" * 4994
    return {
        "50 MB upload": orders_csv(50_000_000),
        "a single 5 MB line": (
            b"order_id,customer_id,sku,quantity,unit_price,currency\nORD-1,"
            + b"C" * 5_000_000
            + b",SKU,1,1.00,EUR\n"
        ),
        "5,000-column header": "\n".join([wide_header] + [wide_row] * 1000).encode() + b"\n",
    }


def bench_memory() -> list[Figure]:
    """Peak resident memory of the upload and process stages for large and odd uploads,
    above the process's memory once the handlers are loaded and warm (the interpreter)."""
    cases = memory_cases()
    with moto_server() as url:
        endpoint = Endpoint(url).start()
        stack = load_stack(TEMPLATE)
        provision(stack, endpoint)
        keys = {}
        bucket = next(b for b in stack.buckets.values() if b.notifications).name
        for i, (case, body) in enumerate(cases.items()):
            keys[case] = f"bench/memory-{i}.csv"
            endpoint.client("s3").put_object(Bucket=bucket, Key=keys[case], Body=body)
        done = subprocess.run(
            [sys.executable, str(HERE / "memory_probe.py"), url, json.dumps(keys)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        endpoint.stop()
    measured = json.loads(done.stdout.splitlines()[-1])
    return [
        Figure(
            f"memory above the interpreter, {case}",
            measured[case]["peak_mb"] - measured["interpreter_mb"],
            None,
            "MB",
            Goal(64, on_ratio=False),
            f"the process once warm: {measured['interpreter_mb']:.0f} MB",
            f"upload then process stage; outcome: {measured[case]['outcome']}",
        )
        for case in cases
    ]


# ---------------------------------------------------------------------- 3, 4. the runner


# An environment's init, as its REPORT line gives it (text or JSON log format).
_INIT_DURATION = re.compile(r'Init Duration: ([0-9.]+) ms|"initDurationMs": ([0-9.]+)')


def _runner_run(
    uploads: int, faults: list[Fault] | None = None, max_environments: int | None = None
) -> tuple[float, str]:
    """Seconds for `uploads` uploads through the three stages with asyncrun, and where
    they went: the attempts (handlers and their environments), the environments' starts,
    the S3 bridge, the rest."""
    with Endpoint() as endpoint, _quiet():
        stack = load_stack(TEMPLATE)
        provision(stack, endpoint)
        executor = local_executor("process", stack, endpoint, max_environments=max_environments)
        engine = Engine(stack, endpoint, faults=faults or [], executor=executor)
        bridge_seconds = 0.0
        drain_s3 = engine.s3.drain

        def timed_drain() -> Any:
            nonlocal bridge_seconds
            started = time.perf_counter()
            try:
                return drain_s3()
            finally:
                bridge_seconds += time.perf_counter() - started

        engine.s3.drain = timed_drain  # type: ignore[method-assign]
        bucket = next(b for b in stack.buckets.values() if b.notifications).name
        s3 = endpoint.client("s3")
        started = time.perf_counter()
        try:
            for n in range(uploads):
                s3.put_object(Bucket=bucket, Key=f"incoming/bench/{n}.csv", Body=SMALL_UPLOAD)
            engine.run_until_idle()
            elapsed = time.perf_counter() - started
        finally:
            engine.executor.close()  # no environment of this run outlives it into the next one
        logical = {f.name: f.logical_id for f in stack.functions.values()}
        outcomes: dict[str, int] = {}
        attempt_seconds = init_seconds = 0.0
        for event in engine.trace:
            if isinstance(event, AttemptFinished):
                key = f"{logical.get(event.function, event.function)} {event.outcome}"
                outcomes[key] = outcomes.get(key, 0) + 1
                attempt_seconds += event.duration_ms / 1000
                for text, json_ms in _INIT_DURATION.findall(event.logs or ""):
                    init_seconds += float(text or json_ms) / 1000
    rest = elapsed - attempt_seconds - init_seconds - bridge_seconds
    where = (
        f"attempts {', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))}; of {elapsed:.1f} s, "
        f"{attempt_seconds:.1f} s in attempts, {init_seconds:.1f} s starting execution environments, "
        f"{bridge_seconds:.1f} s in the S3 bridge (asyncrun/s3events.py), {rest:.1f} s in the rest "
        "(the uploads' puts and the engine)"
    )
    return elapsed, where


def _direct_run(uploads: int) -> tuple[float, float]:
    """The same uploads, the same handlers called directly one after another, the same
    moto: seconds in all, and seconds in the handlers."""
    with Endpoint() as endpoint, _quiet():
        stack = load_stack(TEMPLATE)
        provision(stack, endpoint)
        pipeline = Pipeline.load(stack, endpoint)
        pipeline.through(
            pipeline.put("incoming/bench/warm.csv", SMALL_UPLOAD)
        )  # the cold start, as asyncrun's
        timings: dict[str, list[float]] = {}
        started = time.perf_counter()
        for n in range(uploads):
            pipeline.through(pipeline.put(f"incoming/bench/{n}.csv", SMALL_UPLOAD), timings)
        return time.perf_counter() - started, sum(sum(stage) for stage in timings.values())


def bench_runner(
    sizes: list[int], repeat: int, *, loopback_calls: int = 300
) -> tuple[list[Figure], dict[str, list[tuple[int, float]]]]:
    """Uploads through the three stages with asyncrun against the handlers called directly,
    at each size. At the smallest size, in each of the `repeat` rounds, also the same
    uploads failing twice in the process stage (the retries figure, paired with that
    round's run), and once with one environment per function."""
    per_upload: dict[int, tuple[float, float]] = {}
    where_seen: dict[int, str] = {}
    small = min(sizes)
    failing: list[float] = []
    succeeding: list[float] = []
    failing_where = single_where = ""
    single = 0.0
    for uploads in sizes:
        runs = repeat if uploads == small else 1
        ours, theirs = [], []
        for round_ in range(runs):
            log(f"runner: {uploads} uploads through asyncrun, then directly (run {round_ + 1} of {runs})")
            elapsed, where = _runner_run(uploads)
            ours.append(elapsed / uploads * 1000)
            if uploads == small:
                succeeding.append(elapsed)
                # Every event's first two attempts fail: all first attempts run before any retry is due.
                log(f"runner: {uploads} uploads failing twice, then succeeding")
                fault = Fault("ProcessFunction", "error", 1.0, times=2 * uploads)
                elapsed, failing_where = _runner_run(uploads, [fault])
                failing.append(elapsed)
                if not round_:
                    log(f"runner: {uploads} uploads, --max-environments 1")
                    elapsed, single_where = _runner_run(uploads, max_environments=1)
                    single = elapsed / uploads * 1000
            direct, in_handlers = _direct_run(uploads)
            theirs.append(direct / uploads * 1000)
            where_seen[uploads] = (
                f"{where}; called directly: {in_handlers:.1f} s of {direct:.1f} s in the handlers "
                "(on the virtual clock an attempt's code runs while the engine waits, one at a "
                "time, as the direct calls do; an attempt's excess over its handler is mostly the "
                "function's AWS calls over HTTP to moto in the runner's process, where the direct "
                "call reaches moto in its own)"
            )
        per_upload[uploads] = (median(ours), median(theirs))
    figures = []
    for uploads, (ours_ms, direct_ms) in per_upload.items():
        figures.append(
            Figure(
                f"runner: cost per upload, {uploads} uploads",
                ours_ms,
                direct_ms,
                "ms",
                Goal(1.25),
                "the handlers called directly, one after another, same moto",
                "upload -> process -> audit, process executor (the default); "
                f"{_runs_text(repeat if uploads == small else 1)}; {where_seen[uploads]}",
            )
        )
    figures.append(
        Figure(
            f"runner: cost per upload, {small} uploads, --max-environments 1",
            single,
            per_upload[small][1],
            "ms",
            None,
            "the handlers called directly, one after another, same moto",
            "what one execution environment per function buys, where Lambda (and asyncrun by "
            "default, up to 8) starts one for each attempt that runs at once; no goal; "
            f"one run; {single_where}",
        )
    )
    large = max(per_upload)
    if small != large:
        figures.append(
            Figure(
                f"runner: cost per upload at {large} against {small}",
                per_upload[large][0],
                per_upload[small][0],
                "ms",
                Goal(1.1),
                f"asyncrun's cost per upload at {small} uploads",
                f"nothing in a run may cost more as the run grows; at {large}: {where_seen[large]}; "
                f"at {small}: {where_seen[small]}",
            )
        )
    figures.append(
        Figure(
            f"retries: {small} uploads failing twice then succeeding",
            median(failing),
            median(succeeding),
            "s",
            Goal(1.2),
            f"{small} uploads succeeding at once",
            f"virtual clock: 60 s and 120 s of retry delay an event, skipped; median of {repeat} "
            "pairs (each the round's run beside its failing run); "
            f"the failing run: {failing_where}",
        )
    )
    figures.append(_loopback_call(loopback_calls))
    curve = {
        "asyncrun": [(n, ours) for n, (ours, _) in per_upload.items()],
        "handlers called directly": [(n, direct) for n, (_, direct) in per_upload.items()],
    }
    return figures, curve


_LOOPBACK_CALLS = """
import json, sys, time, boto3
client = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name=sys.argv[2])
key = {{"upload_id": {{"S": "bench"}}}}
seconds = []
for n in range({calls} + 20):
    started = time.perf_counter()
    client.get_item(TableName=sys.argv[3], Key=key, ConsistentRead=True)
    if n >= 20:
        seconds.append(time.perf_counter() - started)
print(json.dumps(sorted(seconds)[len(seconds) // 2] * 1000))
"""


def _loopback_call(calls: int = 300) -> Figure:
    """One DynamoDB GetItem from another process over the loopback endpoint, as a
    function's environment makes it, against the same call in the process on the embedded
    moto, as the handlers called directly make it: the price of each call of an
    environment that is a process of its own."""
    log("runner: one AWS call over loopback and in the process")
    with Endpoint() as endpoint, _quiet():
        stack = load_stack(TEMPLATE)
        provision(stack, endpoint)
        table = stack.functions["ProcessFunction"].environment["PROCESS_TABLE_NAME"]
        dynamodb = endpoint.client("dynamodb")
        key = {"upload_id": {"S": "bench"}}
        dynamodb.put_item(TableName=table, Item={**key, "status": {"S": "PROCESSED"}})
        script = _LOOPBACK_CALLS.format(calls=calls)
        environment = {**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        done = subprocess.run(
            [sys.executable, "-c", script, endpoint.loopback_url(), stack.region, table],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        over_loopback = json.loads(done.stdout.splitlines()[-1])
        in_process = []
        for n in range(calls + 20):
            seconds = _seconds(lambda: dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True))
            if n >= 20:
                in_process.append(seconds * 1000)
    return Figure(
        "runner: one DynamoDB GetItem from a function's environment (over loopback)",
        over_loopback,
        median(in_process),
        "ms",
        None,
        "the same call in the process, on the embedded moto",
        f"median of {calls} calls each; what each AWS call of an environment that is a process of "
        "its own costs beyond the handlers called directly: part of the runner's overhead; no goal",
    )


def _runs_text(runs: int) -> str:
    return f"median of {runs} runs" if runs > 1 else "one run"


# ---------------------------------------------------------------------- 5. serve


def bench_failure_answer(repeat: int) -> Figure:
    """`asyncrun serve --virtual-clock`: an Event invoke of a function that always fails
    (2 retries) until its record is in the OnFailure queue, `drain` skipping the waits;
    against a RequestResponse invoke of the same function (its one failed attempt)."""
    import boto3

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    asyncrun = Path(sys.executable).parent / "asyncrun"
    command = [str(asyncrun), "serve", "--template", str(THROUGHPUT), "--virtual-clock", "--quiet"]
    process = subprocess.Popen(
        [*command, "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        options: dict[str, Any] = {
            "endpoint_url": url,
            "region_name": "us-east-1",
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",
        }
        _wait_until_answers(f"{url}/_asyncrun/status", process, "asyncrun serve")
        lam, sqs = boto3.client("lambda", **options), boto3.client("sqs", **options)
        name = next(
            f["FunctionName"] for f in lam.list_functions()["Functions"] if "Failing" in f["FunctionName"]
        )
        queue = next(u for u in sqs.list_queues()["QueueUrls"] if "Failures" in u)
        answers, directs = [], []
        for n in range(repeat + 1):
            started = time.perf_counter()
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": n}).encode())
            request = urllib.request.Request(f"{url}/_asyncrun/drain", method="POST", data=b"{}")  # noqa: S310
            urllib.request.urlopen(request, timeout=60).close()  # noqa: S310 - loopback
            while not (
                messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages")
            ):
                pass
            answer = time.perf_counter() - started
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
            started = time.perf_counter()
            lam.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=b"{}")
            direct = time.perf_counter() - started
            if n:  # the first round is the cold one
                answers.append(answer)
                directs.append(direct)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return Figure(
        "serve: failure answer (Event invoke to OnFailure queue, 2 retries)",
        median(answers),
        median(directs),
        "s",
        Goal(0.5, on_ratio=False),
        "a RequestResponse invoke of the same function",
        f"asyncrun serve --virtual-clock, POST /_asyncrun/drain; median of {repeat}",
    )


# ---------------------------------------------------------------------- 6. sizes


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_sizes() -> list[Figure]:
    """`sam build` with the default parameters, against what pip would put in the layer
    resolving the same requirements (dependencies followed, as a python3.13 build does)."""
    build = sam_built()
    with tempfile.TemporaryDirectory() as resolved:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--only-binary=:all:",
                "--platform",
                "manylinux2014_aarch64",
                "--python-version",
                "3.13",
                "--implementation",
                "cp",
                "--target",
                resolved,
                "--requirement",
                str(ROOT / "layers/shared/requirements.txt"),
            ],
            check=True,
            capture_output=True,
        )
        resolved_bytes = _tree_bytes(Path(resolved)) + _tree_bytes(ROOT / "layers/shared/pipeline")
    layer = build / "SharedLayer"
    carried = {distribution_of(folder.name) for folder in (layer / "python").glob("*.dist-info")}
    shadowing = sorted(carried & RUNTIME_PROVIDED)
    one_architecture = _tree_bytes(built_layer("arm64").parent) / 1e6
    layer_mb = _tree_bytes(layer) / 1e6
    figures = [
        Figure(
            "layer size, unzipped, as make build makes it (LAYER_ARCHITECTURES=arm64)",
            one_architecture,
            resolved_bytes / 1e6,
            "MB",
            Goal(15, on_ratio=False),
            "pip resolving the same requirements for arm64 (botocore followed in)",
            "the layer a deploy ships: the stack's one architecture",
        ),
        Figure(
            "layer size, unzipped, as a plain sam build makes it (both architectures)",
            layer_mb,
            resolved_bytes / 1e6,
            "MB",
            None,
            "pip resolving the same requirements for arm64 (botocore followed in)",
            "SAM tells a makefile build no architecture, so it carries both and deploys to either: "
            f"the second one's native modules are {layer_mb - one_architecture:.1f} MB of it",
        ),
        Figure(
            "layer: distributions the Lambda runtime already provides",
            len(shadowing),
            None,
            "",
            Goal(1, on_ratio=False),
            "-",
            ", ".join(shadowing)
            or "none (tests/unit/test_layer.py and tests/template/test_sam_cli.py hold it)",
        ),
    ]
    for logical_id in STAGES:
        figures.append(
            Figure(
                f"function code size {logical_id}",
                _tree_bytes(build / logical_id) / 1e3,
                None,
                "KB",
                Goal(50, on_ratio=False),
                "-",
                "unzipped, as sam build makes it",
            )
        )
    return figures


# ---------------------------------------------------------------------- 7. sam local invoke


# One sample event per function, its success: the others take the same container start.
SAM_LOCAL_EVENTS = ("upload/s3-put.json", "process/upload-success.json", "audit/process-success.json")


def bench_sam_local() -> list[Figure]:
    """`sam local invoke` of each sample event against a moto container, as the container
    tests run it, and asyncrun's run of the same event against the same moto, in a new
    execution environment."""
    from asyncrun.runtimes.containers import engine_problem

    problem = engine_problem()
    if problem is not None:
        return [
            Figure("sam local invoke per sample event", 0, None, "s", None, "-", f"not measured: {problem}")
        ]
    from tests.support.events import function_inputs, load_event, put_and_pin, sample_contents
    from tests.support.sam_local import sam_local_stack

    figures = []
    log("sam local: sam build")
    with tempfile.TemporaryDirectory(prefix="bench-sam-local-") as work, sam_local_stack(Path(work)) as local:
        engine = Engine(local.stack, local.endpoint, executor=default_executor(local.stack, local.endpoint))
        contents = sample_contents()
        inputs = function_inputs()
        for name in SAM_LOCAL_EVENTS:
            function, _ = inputs[name]
            event = put_and_pin(local.endpoint.client("s3"), load_event(name), contents)
            log(f"sam local: {function} {name}")
            invocation = local.invoke(function, event, tag=name)
            engine.executor.reset(local.stack.functions[function])  # loaded anew, as in a container
            started = time.perf_counter()
            with _quiet():
                answer = engine.invoke_sync(function, event, qualifier="live")
            ours = time.perf_counter() - started
            outcomes = f"sam local exit {invocation.returncode}; asyncrun " + (
                "function error" if answer.function_error else "success"
            )
            figures.append(
                Figure(
                    f"sam local invoke {function} {name}",
                    invocation.seconds,
                    ours,
                    "s",
                    None,
                    "asyncrun, same event and moto, in a new execution environment",
                    f"what the fast path buys: the ratio; no goal; {outcomes}; one sample event per "
                    "function: most of the time is the container's start, whatever the event",
                )
            )
    return figures


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="pairs for cold starts and warm stages")
    parser.add_argument("--runs", type=int, default=3, help="runs of each small runner measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="uploads per runner run")
    parser.add_argument("--skip", nargs="*", default=[], help="sections to leave out (names as logged)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    curve: dict[str, list[tuple[int, float]]] = {}

    def runner() -> list[Figure]:
        found, points = bench_runner(args.sizes, args.runs)
        curve.update(points)
        return found

    sections: dict[str, Callable[[], list[Figure]]] = {
        "cold-start": lambda: bench_cold_start(args.repeat),
        "warm": lambda: bench_warm_stages(args.repeat),
        "memory": bench_memory,
        "runner": runner,
        "serve": lambda: [bench_failure_answer(args.repeat)],
        "sizes": bench_sizes,
        "sam-local": bench_sam_local,
    }
    started = time.perf_counter()
    for name, section in sections.items():
        if name in args.skip:
            continue
        log(f"{name} ...")
        t = time.perf_counter()
        found = section()
        log(f"{name}: {time.perf_counter() - t:.0f} s")
        for figure in found:
            print(json.dumps(figure.as_json(), ensure_ascii=False), flush=True)
        figures.extend(found)
    header = (
        f"`make bench` on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}; {time.perf_counter() - started:.0f} s in all. "
        "Every value is beside a baseline measured in the same run. Cold starts are CPU time of "
        "the process; the rest is wall time."
    )
    write_json(figures, args.out / "results.json")
    write_markdown(figures, curve, header, args.out / "results.md")


if __name__ == "__main__":
    main()
