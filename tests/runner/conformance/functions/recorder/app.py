"""Sends every event it receives, unchanged, to the queue named by RECORD_QUEUE_NAME."""

import json
import os

import boto3

_sqs = None


def lambda_handler(event, context):
    global _sqs
    _sqs = _sqs or boto3.client("sqs")
    url = _sqs.get_queue_url(QueueName=os.environ["RECORD_QUEUE_NAME"])["QueueUrl"]
    _sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"requestId": context.aws_request_id, "event": event})
    )
    return {"recorded": True}
