"""The container engine and moto in a container, for running functions with `sam local`.

The container engine is whatever `DOCKER_HOST` names, else a Docker or podman
socket at its usual place; `scripts/provision-container-engine.sh` sets one up on
a machine that has none. `MotoContainer` runs moto as a container on the network
the functions' containers share, published on a loopback port for the runner's own calls."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from asyncrun.errors import SamLocalError

log = logging.getLogger(__name__)

NETWORK = "asyncrun-sam-local"  # functions and moto share it; container names resolve by DNS
PROVISION_HINT = (
    "run scripts/provision-container-engine.sh as root (it sets up podman and the Lambda image "
    'offline) and then eval "$(scripts/provision-container-engine.sh)" to export DOCKER_HOST'
)
# Where a local socket usually is when DOCKER_HOST is not set.
_USUAL_SOCKETS = ("unix:///var/run/docker.sock", "unix:///run/podman/podman.sock")
_MOTO_PORT = 5000


# ---------------------------------------------------------------------- the engine
def _ping(docker_host: str, timeout: float = 3.0) -> bool:
    """Whether the Docker API at `docker_host` answers `_ping` with OK."""
    try:
        if docker_host.startswith("unix://"):
            path = docker_host.removeprefix("unix://")
            if not os.path.exists(path):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            return head.split(b" ", 2)[1:2] == [b"200"] and body.strip() == b"OK"
        if docker_host.startswith("tcp://"):
            url = "http://" + docker_host.removeprefix("tcp://").rstrip("/") + "/_ping"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return bool(response.status == 200)
    except (OSError, IndexError):
        return False
    return False


def find_docker_host() -> str:
    """The `DOCKER_HOST` value that reaches a working container engine ("" for the
    Docker client's own default), or SamLocalError saying what to do."""
    configured = os.environ.get("DOCKER_HOST")
    if configured:
        if _ping(configured) or (not configured.startswith("unix://") and _docker_info_ok()):
            return configured
        raise SamLocalError(f"DOCKER_HOST={configured} does not answer; {PROVISION_HINT}")
    for candidate in _USUAL_SOCKETS:
        if _ping(candidate):
            return candidate
    if _docker_info_ok():
        return ""
    raise SamLocalError(f"no container engine answers (no DOCKER_HOST, no socket); {PROVISION_HINT}")


def engine_problem() -> str | None:
    """Why containers cannot run here, or None when an engine answers."""
    try:
        find_docker_host()
    except SamLocalError as error:
        return str(error)
    return None


def _docker_info_ok() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run([docker, "info"], capture_output=True, timeout=20, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def docker_client(docker_host: str) -> Any:
    import docker  # the Docker SDK SAM itself uses; imported only when containers run

    environment = dict(os.environ)
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
    return docker.from_env(environment=environment, timeout=60)


def ensure_network(client: Any, name: str = NETWORK) -> None:
    """A user-defined bridge network (its DNS resolves container names)."""
    if not client.networks.list(names=[name]):
        log.debug("creating container network %s", name)
        client.networks.create(name, driver="bridge")


# ---------------------------------------------------------------------- moto
def moto_image(client: Any) -> str:
    """The moto server image: ASYNCRUN_MOTO_IMAGE, else the one the provisioning
    script builds offline, else moto's public image; the version matches the moto
    this runner uses."""
    chosen = os.environ.get("ASYNCRUN_MOTO_IMAGE")
    if chosen:
        return chosen
    try:
        moto_version = version("moto")
    except PackageNotFoundError:
        moto_version = "latest"
    local = f"localhost/asyncrun-moto:{moto_version}"
    with contextlib.suppress(Exception):
        client.images.get(local)
        return local
    return f"motoserver/moto:{moto_version}"


class MotoContainer:
    """A moto server in a container on `network`: `host_url` is its loopback port for
    this process, `container_url` its address for functions in containers."""

    def __init__(
        self, *, docker_host: str | None = None, network: str = NETWORK, name: str | None = None
    ) -> None:
        self.docker_host = find_docker_host() if docker_host is None else docker_host
        self.network = network
        self.name = name or f"asyncrun-moto-{uuid.uuid4().hex[:8]}"
        self.host_url = ""
        self._container: Any = None

    @property
    def container_url(self) -> str:
        return f"http://{self.name}:{_MOTO_PORT}"

    def start(self, *, ready_timeout: float = 60.0) -> MotoContainer:
        client = docker_client(self.docker_host)
        ensure_network(client, self.network)
        image = moto_image(client)
        log.debug("starting %s from %s on %s", self.name, image, self.network)
        try:
            self._container = client.containers.run(
                image,
                detach=True,
                name=self.name,
                network=self.network,
                ports={f"{_MOTO_PORT}/tcp": ("127.0.0.1", None)},  # loopback only, any free port
                remove=True,
            )
        except Exception as error:
            raise SamLocalError(f"cannot start the moto container from {image}: {error}") from None
        try:
            self._container.reload()
            binding = self._container.ports[f"{_MOTO_PORT}/tcp"][0]
            self.host_url = f"http://127.0.0.1:{binding['HostPort']}"
            wait_http(f"{self.host_url}/moto-api/", ready_timeout, what=f"moto in container {self.name}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        with contextlib.suppress(Exception):  # already gone (removed on exit)
            container.remove(force=True)

    def __enter__(self) -> MotoContainer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_http(url: str, timeout: float, *, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until `url` answers any HTTP status (or the process it depends on exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError:
            return  # answered, with an error status: it is up
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise SamLocalError(f"{what} exited with status {process.returncode} before answering")
        if time.monotonic() > deadline:
            raise SamLocalError(f"{what} did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.2)
