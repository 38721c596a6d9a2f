"""The built functions in Lambda runtime containers: `sam build` of a local copy of the
template (code paths absolute, `AWS_ENDPOINT_URL` declared), a moto container on the
functions' network holding the stack's resources (created by asyncrun's `provision`,
named as the template names them), and `sam local invoke` of a function with a
sample event. Skipped, with the reason, when no container engine answers."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asyncrun.runtimes.containers import (
    NETWORK,
    MotoContainer,
    engine_problem,
    find_docker_host,
    sam_build,
    sam_command,
    sam_environment,
)
from asyncrun.runtimes.samlocal import ENDPOINT_VARIABLE, LocalTemplate, cache_dir_for, derive
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import Stack
from asyncrun.stack.provision import provision
from asyncrun.stack.template import load_stack
from tests.support.events import function_inputs, load_event, put_and_pin, sample_contents
from tests.support.template import REGION, ROOT, STACK_NAME, TEMPLATE_PATH

HERE = Path(__file__).parent
FUNCTION_INPUTS = function_inputs()
# Shared with `asyncrun --executor sam-local`: a second build of unchanged code is a copy.
BUILD_CACHE = cache_dir_for(TEMPLATE_PATH, ROOT / ".aws-sam" / "asyncrun") / "cache"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if item.path.is_relative_to(HERE)]
    if not ours:
        return
    problem = engine_problem()
    for item in ours:
        item.add_marker(pytest.mark.containers)
        needs_containers = "sam_local" in getattr(item, "fixturenames", ())
        if problem is not None and needs_containers:
            item.add_marker(pytest.mark.skip(reason=f"no container engine: {problem}"))


@dataclass(frozen=True)
class Invocation:
    function: str
    event: Any  # as sent (pinned version ids swapped in)
    stdout: str  # the function's response
    stderr: str  # sam's and the function's logs
    returncode: int
    seconds: float

    @property
    def answer(self) -> Any:
        """The function's response, parsed; fails the test with sam's output if there is none."""
        assert self.returncode == 0, f"sam local invoke {self.function} failed:\n{self.stderr[-3000:]}"
        lines = self.stdout.strip().splitlines()
        assert lines, f"sam local invoke {self.function} answered nothing:\n{self.stderr[-3000:]}"
        return json.loads(lines[-1])


@dataclass
class SamLocalStack:
    """The stack's resources in a moto container, and the built functions that reach it."""

    stack: Stack
    endpoint: Endpoint  # the moto container through its loopback port
    local: LocalTemplate
    built_template: Path
    env_vars: Path
    sam_env: dict[str, str]
    work: Path

    def invoke(self, function: str, event: Any, *, tag: str) -> Invocation:
        """`sam local invoke FUNCTION -e EVENT` in a container on the moto container's network."""
        event_file = self.work / f"event-{tag.replace('/', '-')}"
        event_file.write_text(json.dumps(event))
        command = sam_command(
            "local",
            "invoke",
            function,
            "--event",
            str(event_file),
            "--env-vars",
            str(self.env_vars),
            "--docker-network",
            NETWORK,
            "--skip-pull-image",
            "--template-file",
            str(self.built_template),
            "--region",
            self.stack.region,
            *self.local.override_args(),
        )
        started = time.monotonic()
        done = subprocess.run(
            command,
            cwd=self.work,
            env=self.sam_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return Invocation(
            function, event, done.stdout, done.stderr, done.returncode, time.monotonic() - started
        )


@pytest.fixture(scope="session")
def sam_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocalStack]:
    docker_host = find_docker_host()
    work = tmp_path_factory.mktemp("sam-local")
    with MotoContainer(docker_host=docker_host) as moto:
        local = derive(TEMPLATE_PATH, work / "derived", endpoint_url=moto.container_url)
        sam_env = sam_environment(docker_host, REGION, moto.host_url)
        built = sam_build(local, build_dir=work / "build", cache_dir=BUILD_CACHE, env=sam_env)
        stack = load_stack(TEMPLATE_PATH, stack_name=STACK_NAME, region=REGION)
        endpoint = Endpoint(moto.host_url, stack.region).start()
        provision(stack, endpoint)
        # Each function's declared variables, resolved to the moto container's resources.
        env_vars = work / "env.json"
        env_vars.write_text(
            json.dumps(
                {
                    logical_id: {**spec.environment, ENDPOINT_VARIABLE: moto.container_url}
                    for logical_id, spec in stack.functions.items()
                },
                indent=1,
            )
        )
        yield SamLocalStack(stack, endpoint, local, built, env_vars, sam_env, work)
        endpoint.stop()


@pytest.fixture(scope="session")
def sample_invocations(sam_local: SamLocalStack) -> dict[str, Invocation]:
    """Every sample event that is a function's input, fed to its function: the objects
    it names put first (pinned version ids swapped for the ones they got), then the
    invocations all at once. Each `sam local invoke` spends most of its time building
    the function's image with its layer (sam lets one build serve the invocations
    waiting for it) and starting a container: side by side, eight take about as long
    as two one after the other."""
    s3 = sam_local.endpoint.client("s3")
    events = {name: put_and_pin(s3, load_event(name), sample_contents()) for name in FUNCTION_INPUTS}
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        futures = {
            name: pool.submit(sam_local.invoke, FUNCTION_INPUTS[name][0], event, tag=name)
            for name, event in events.items()
        }
        return {name: future.result() for name, future in futures.items()}
