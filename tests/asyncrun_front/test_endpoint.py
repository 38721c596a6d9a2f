import os

import pytest

from asyncrun.endpoint import Endpoint


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


def test_a_url_endpoint_gives_functions_its_url() -> None:
    endpoint = Endpoint(url="http://127.0.0.1:5000", region="eu-west-1")
    assert endpoint.function_environment()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert endpoint.function_environment()["AWS_REGION"] == "eu-west-1"
