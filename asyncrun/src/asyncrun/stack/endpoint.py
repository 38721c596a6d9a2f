"""Where AWS calls go: an embedded, in-process moto (the default) or a URL such as a
moto server or LocalStack. The runner's own calls and the functions' SDK calls go to
the same place."""

from __future__ import annotations

import os
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


# boto3 clients by (service, endpoint URL, region).
ClientCache = dict[tuple[str, str | None, str], Any]


class Endpoint:
    def __init__(
        self, url: str | None = None, region: str = "us-east-1", *, clients: ClientCache | None = None
    ) -> None:
        self.url = url
        self.region = region
        self._mock: Any = None
        self._set_aside: dict[str, str | None] = {}
        # Endpoints started one after another (a test suite's) may share their clients:
        # creating one costs about 0.1 s, and a client keeps working across moto restarts.
        self._clients: ClientCache = {} if clients is None else clients
        self._own_clients = clients is None

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

            self._set_aside_user_configuration()
            self._mock = mock_aws()
            self._mock.start()
        return self

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
            for name, value in self._set_aside.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._set_aside = {}
        if self._own_clients:
            self._clients.clear()

    def _set_aside_user_configuration(self) -> None:
        """The user's AWS configuration has no place in an embedded stack, as it has none
        inside Lambda: botocore falls back to AWS_ENDPOINT_URL[_<SERVICE>] and to the
        config file's endpoint_url for a client without an endpoint (sending the runner's
        and the functions' calls there instead of moto), and a profile that does not exist
        stops every client. Restored by `stop`."""
        names = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]
        names += ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"]
        self._set_aside = {name: os.environ.get(name) for name in names}
        for name in names:
            os.environ.pop(name, None)
        # Not merely unset: botocore would then read ~/.aws/config and ~/.aws/credentials.
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        """One client per service for the endpoint's lifetime (or the shared cache's)."""
        key = (service, self.url, self.region)
        if key not in self._clients:
            self._clients[key] = self._new_client(service)
        return self._clients[key]

    def _new_client(self, service: str) -> Any:
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
