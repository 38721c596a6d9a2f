"""Publishes to the topic it is subscribed to, each time a message arrives: a loop."""

import os

import boto3

_sns = None  # created on first use, then kept warm


def lambda_handler(event, context):
    global _sns
    _sns = _sns or boto3.client("sns")
    message = event["Records"][0]["Sns"]["Message"]
    _sns.publish(TopicArn=os.environ["LOOP_TOPIC"], Message=f"{message}x")
    return {"published": f"{message}x"}
