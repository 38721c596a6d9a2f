"""Where AWS calls go: an embedded, in-process moto (the default) or a URL such as a
moto server or LocalStack. The runner's own calls and the functions' SDK calls go to
the same place."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Fixed, obviously fake credentials: local endpoints accept any, and real ones must
# never be picked up from the user's profile by accident.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "asyncrun",
    "AWS_SECRET_ACCESS_KEY": "asyncrun",
    "AWS_SESSION_TOKEN": "asyncrun",
}
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


class Endpoint:
    def __init__(self, url: str | None = None, region: str = "us-east-1") -> None:
        self.url = url
        self.region = region
        self._mock: Any = None
        self._hidden_endpoints: dict[str, str] = {}

    @property
    def embedded(self) -> bool:
        return self.url is None

    def start(self) -> Endpoint:
        # Credentials go into the process environment before any client exists: moto
        # intercepts botocore, and botocore resolves credentials at client creation.
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        if self.embedded and self._mock is None:
            from moto import mock_aws  # imported late: moto is heavy and unused with --endpoint-url

            # botocore reads AWS_ENDPOINT_URL[_<SERVICE>] when a client has no endpoint of
            # its own: left in place, a shell's variable would send the embedded stack's
            # calls (the runner's and the functions') to that URL instead of moto.
            self._hidden_endpoints = {
                name: os.environ.pop(name) for name in list(os.environ) if name.startswith("AWS_ENDPOINT_URL")
            }
            self._mock = mock_aws()
            self._mock.start()
        return self

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
            os.environ.update(self._hidden_endpoints)
            self._hidden_endpoints = {}
        self.client.cache_clear()

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @cache  # noqa: B019 - one client per service for the endpoint's lifetime
    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]  # one method for every service the runner uses
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def function_environment(self) -> dict[str, str]:
        """What a function needs in its environment to reach this endpoint."""
        env = dict(LOCAL_CREDENTIALS)
        env["AWS_REGION"] = self.region
        env["AWS_DEFAULT_REGION"] = self.region
        if self.url:
            env["AWS_ENDPOINT_URL"] = self.url
        return env
