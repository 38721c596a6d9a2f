import os
from pathlib import Path

import boto3
import pytest

from asyncrun.stack.endpoint import Endpoint


def test_an_embedded_endpoint_ignores_a_shells_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the shell points the AWS SDK at some other endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    with Endpoint(region="us-east-1") as endpoint:
        # When the embedded endpoint is used
        endpoint.client("s3").create_bucket(Bucket="embedded-only")
        # Then its calls stay in the process
        assert [b["Name"] for b in endpoint.client("s3").list_buckets()["Buckets"]] == ["embedded-only"]
        assert "AWS_ENDPOINT_URL" not in os.environ
    # and the shell's settings are back once it stops
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert os.environ["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9"


def test_an_embedded_endpoint_is_not_redirected_or_stopped_by_the_users_aws_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a config file that sends every client elsewhere, and a profile that does not exist
    config = tmp_path / "config"
    config.write_text("[default]\nendpoint_url = http://127.0.0.1:9\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE", raising=False)
    with Endpoint(region="us-east-1") as endpoint:
        # When the runner and a function (a client of its own, from the environment) call S3
        endpoint.client("s3").create_bucket(Bucket="embedded-only")
        function_client = boto3.session.Session().client("s3", region_name="us-east-1")
        # Then both reach the embedded moto
        assert [b["Name"] for b in function_client.list_buckets()["Buckets"]] == ["embedded-only"]
    # and the user's configuration is back once it stops
    assert os.environ["AWS_CONFIG_FILE"] == str(config)
    assert os.environ["AWS_PROFILE"] == "no-such-profile"
    assert "AWS_SHARED_CREDENTIALS_FILE" not in os.environ


def test_a_url_endpoint_gives_functions_its_url() -> None:
    endpoint = Endpoint(url="http://127.0.0.1:5000", region="eu-west-1")
    assert endpoint.function_environment()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert endpoint.function_environment()["AWS_REGION"] == "eu-west-1"


def test_a_subscribed_queue_that_is_gone_fails_neither_the_publish_nor_the_other_subscribers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Endpoint(region="us-east-1") as endpoint:
        sns, sqs = endpoint.client("sns"), endpoint.client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("gone", "kept")]
        for url in urls:
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
            )
        sqs.delete_queue(QueueUrl=urls[0])
        # When a message is published, SNS accepts it (delivery is SNS's, not the publisher's)
        assert sns.publish(TopicArn=topic, Message="m")["MessageId"]
        # Then the remaining subscriber receives it, and the dropped delivery is named
        [message] = sqs.receive_message(QueueUrl=urls[1]).get("Messages", [])
        assert message["Body"] == "m"
        assert "subscribed queue arn:aws:sqs:us-east-1:123456789012:gone does not exist" in caplog.text
