"""Run by run.py in a process of its own: the upload and process stages, warm, on each
named object of a moto server; prints the process's resident memory once warm and its
peak during each case (Linux: /proc/self/status, the peak reset before each case)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncrun.stack.endpoint import Endpoint  # noqa: E402
from asyncrun.stack.template import load_stack  # noqa: E402
from benchmarks.direct import Pipeline, s3_event, success_record  # noqa: E402


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def main() -> None:
    url, keys = sys.argv[1], json.loads(sys.argv[2])
    endpoint = Endpoint(url).start()
    stack = load_stack(ROOT / "template.yaml")
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        pipeline = Pipeline.load(stack, endpoint)
        s3 = endpoint.client("s3")
        bucket = pipeline.upload_bucket()

        def run(key: str) -> str:
            head = s3.head_object(Bucket=bucket, Key=key)
            event = s3_event(
                bucket, key, head["ContentLength"], head["ETag"].strip('"'), head.get("VersionId")
            )
            try:
                answer, request_id = pipeline.call("UploadFunction", event)
                record = success_record(stack.functions["UploadFunction"], event, answer, request_id)
                pipeline.call("ProcessFunction", record)
            except Exception as error:
                return f"{type(error).__name__} (as designed for this file)"
            return "processed"

        pipeline.through(
            pipeline.put(
                "bench/memory-warm.csv",
                b"order_id,customer_id,sku,quantity,unit_price,currency\nO,C,S,1,1.00,EUR\n",
            )
        )
        result: dict[str, object] = {"interpreter_mb": _status_mb("VmRSS")}
        for case, key in keys.items():
            _reset_peak()
            outcome = run(key)
            result[case] = {"peak_mb": _status_mb("VmHWM"), "outcome": outcome}
        sys.stdout = stdout
    print(json.dumps(result))


if __name__ == "__main__":
    main()
