import http.client
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest

from asyncrun.stack import loopback
from asyncrun.stack.endpoint import LOCAL_CREDENTIALS, Endpoint


def _ignores_the_body(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with what it was asked, reading none of the body (as a faulted call does)."""
    answer = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} from {environ['REMOTE_PORT']}".encode()
    if environ["PATH_INFO"] == "/empty":
        start_response("204 No Content", [])
        return []
    if environ["PATH_INFO"] == "/fails":
        raise RuntimeError("the application failed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [answer[:5], answer[5:]]  # in parts, without a length


@pytest.fixture
def server() -> Iterator[Any]:
    served = loopback.serve(_ignores_the_body)
    yield served
    served.shutdown()
    served.server_close()


def test_one_connection_carries_requests_whose_bodies_were_not_read(server: Any) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    connection.request("PUT", "/first", body=b"x" * 100_000)
    first = connection.getresponse()
    assert first.getheader("Content-Length") == str(len(first.read()))
    connection.request("POST", "/second", body=iter([b"chunk one", b"chunk two"]), encode_chunked=True)
    second = connection.getresponse().read().decode()
    connection.request("HEAD", "/third")
    third = connection.getresponse()
    assert third.read() == b""
    connection.request("GET", "/empty")
    empty = connection.getresponse()
    assert (empty.status, empty.getheader("Content-Length"), empty.read()) == (204, None, b"")
    connection.request("GET", "/fourth")
    fourth = connection.getresponse().read().decode()
    # Each answer is its own request's, and all came over the first request's connection
    port = connection.sock.getsockname()[1]
    assert second == f"POST /second from {port}"
    assert fourth == f"GET /fourth from {port}"
    connection.close()


def test_an_application_that_fails_answers_500_and_closes_the_connection(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    connection.request("GET", "/fails")
    response = connection.getresponse()
    assert (response.status, response.getheader("Connection"), response.read()) == (
        500,
        "close",
        b"Internal Server Error",
    )
    assert "GET /fails failed" in caplog.text


def test_a_functions_sdk_calls_share_one_connection(endpoint: Endpoint) -> None:
    # Given a client as a function's process makes it, against the loopback endpoint
    seen: list[str] = []
    endpoint.front = lambda app: _remembering_ports(app, seen)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint.loopback_url(),
        region_name=endpoint.region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket="kept-open")
    # When it writes, reads, heads and deletes (a 204) an object with a metadata key moto keeps
    s3.put_object(Bucket="kept-open", Key="k", Body=b"body", Metadata={"under_score": "v"})
    assert s3.get_object(Bucket="kept-open", Key="k")["Body"].read() == b"body"
    assert s3.head_object(Bucket="kept-open", Key="k")["Metadata"] == {"under_score": "v"}
    s3.delete_object(Bucket="kept-open", Key="k")
    assert s3.list_objects_v2(Bucket="kept-open")["KeyCount"] == 0
    # Then every call came over one connection
    assert len(seen) == 6
    assert len(set(seen)) == 1


def _remembering_ports(app: Any, seen: list[str]) -> Any:
    def remembering(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(str(environ["REMOTE_PORT"]))
        return app(environ, start_response)  # type: ignore[no-any-return]

    return remembering
