"""Writes a new object to the bucket that notifies it, each time it is notified: a loop."""

import os

import boto3

_s3 = None  # created on first use, then kept warm


def lambda_handler(event, context):
    global _s3
    _s3 = _s3 or boto3.client("s3")
    key = event["Records"][0]["s3"]["object"]["key"]
    _s3.put_object(Bucket=os.environ["LOOP_BUCKET"], Key=f"{key}x", Body=b"again")
    return {"wrote": f"{key}x"}
