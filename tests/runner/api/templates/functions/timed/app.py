"""Sleeps, then records when it ran (wall time) in the bucket, one object per request:
what the concurrency tests read to see which attempts ran at once."""

import json
import os
import time

import boto3

_s3 = None  # created on first use, then kept warm


def lambda_handler(event, context):
    global _s3
    started = time.time()
    time.sleep(float(event.get("seconds", 0.5)))
    ended = time.time()
    _s3 = _s3 or boto3.client("s3")
    _s3.put_object(
        Bucket=os.environ["RUNS_BUCKET"],
        Key=f"runs/{context.function_name}/{context.aws_request_id}",
        Body=json.dumps({"start": started, "end": ended}).encode(),
    )
    return {"start": started, "end": ended}
