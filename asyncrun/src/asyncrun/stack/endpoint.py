"""Where AWS calls go: an embedded, in-process moto (the default) or a URL such as a
moto server or LocalStack. The runner's own calls and the functions' SDK calls go to
the same place.

Functions run in their own processes (`asyncrun.runtimes.environments`), which cannot reach an
in-process moto: for them the embedded endpoint also serves moto's own WSGI
application on a loopback port (`loopback_url`), started at first use. moto's
backends are process-global, so the runner's in-process calls and the functions'
HTTP calls see one state. The served application is wrapped (`front`) so that a
function's own `lambda.invoke` reaches the engine (`asyncrun.stack.function_invokes`).
Outermost, `asyncrun.stack.call_faults` fails the calls its table names: each execution
environment signs with an access key id of its own, so the fronts know who made a call."""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from asyncrun.stack import loopback, moto_sns
from asyncrun.stack.call_faults import CallFaultFront, CallFaultTable, function_access_key

# Fixed, obviously fake credentials: local endpoints accept any, and real ones must
# never be picked up from the user's profile by accident.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "asyncrun",
    "AWS_SECRET_ACCESS_KEY": "asyncrun",
    "AWS_SESSION_TOKEN": "asyncrun",
}


# boto3 clients by (service, endpoint URL, region).
ClientCache = dict[tuple[str, str | None, str], Any]

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from werkzeug.serving import BaseWSGIServer

Front = Callable[["WSGIApplication"], "WSGIApplication"]


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
        self._loopback: BaseWSGIServer | None = None
        self._loopback_lock = threading.Lock()
        self.front: Front | None = None  # wraps the loopback application; set before first use
        self._invoke_target: Callable[[], Any] = lambda: None
        # Faults in the functions' own calls, filled by the engine; only calls over
        # loopback pass the front that consults it.
        self.call_faults = CallFaultTable()

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
            moto_sns.install()  # a subscriber's failure is not the publisher's, as on AWS
        return self

    def stop(self) -> None:
        self._stop_loopback()
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

    def function_environment(
        self,
        *,
        separate_process: bool = False,
        function_name: str | None = None,
        environment_id: str | None = None,
    ) -> dict[str, str]:
        """What a function needs in its environment to reach this endpoint: in this
        process, the embedded moto needs nothing; from another process, its loopback URL,
        and an access key id of its own (`function_name`'s and its environment's) that
        tells the loopback front who makes a call."""
        env = dict(LOCAL_CREDENTIALS)
        if function_name is not None and self.embedded and separate_process:
            env["AWS_ACCESS_KEY_ID"] = function_access_key(function_name, environment_id)
        env["AWS_REGION"] = self.region
        env["AWS_DEFAULT_REGION"] = self.region
        url = self.url or (self.loopback_url() if separate_process else None)
        if url:
            env["AWS_ENDPOINT_URL"] = url
        return env

    def loopback_url(self) -> str:
        """The embedded moto served on 127.0.0.1 (started once, stopped by `stop`)."""
        if not self.embedded:
            raise RuntimeError("only the embedded endpoint is served on loopback")
        with self._loopback_lock:
            if self._loopback is None:
                self._loopback = loopback.serve(self._application())
            return f"http://127.0.0.1:{self._loopback.server_port}"

    def route_function_invokes(self, engine: Any) -> None:
        """Send the functions' `lambda.invoke` calls to `engine` (the latest engine on
        this endpoint) instead of moto."""
        from asyncrun.stack.function_invokes import FunctionInvokeFront

        self._invoke_target = weakref.ref(engine)
        if self.front is None:
            self.front = lambda app: FunctionInvokeFront(app, lambda: self._invoke_target())

    def _application(self) -> WSGIApplication:
        app = moto_application()
        if self.front is not None:
            app = self.front(app)
        return CallFaultFront(app, self.call_faults)

    def _stop_loopback(self) -> None:
        with self._loopback_lock:
            server, self._loopback = self._loopback, None
        if server is not None:
            server.shutdown()
            server.server_close()


def moto_application() -> WSGIApplication:
    """moto's server application, in this process: its backends are the ones the
    embedded `mock_aws` clients use."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto lists its package folder on every request to route it (a few hundred stat
    # calls); the folder does not change while asyncrun runs.
    if not isinstance(backends.list_of_moto_modules, functools.partial):
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = functools.partial(iter, modules)
    app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
    return app
