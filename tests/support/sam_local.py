"""The built functions with a moto container: `sam build` of a local copy of the template
(code paths absolute, `AWS_ENDPOINT_URL` declared), a moto container on the functions'
network holding the stack's resources (created by asyncrun's `provision`, named as the
template names them), and `sam local invoke` of a function with an event. Used by the
container tests and by `make bench`."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncrun.runtimes.containers import (
    NETWORK,
    MotoContainer,
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
from tests.support.template import REGION, ROOT, STACK_NAME, TEMPLATE_PATH

# Shared with `asyncrun --executor sam-local`: a second build of unchanged code is a copy.
BUILD_CACHE = cache_dir_for(TEMPLATE_PATH, ROOT / ".aws-sam" / "asyncrun") / "cache"


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


@contextmanager
def sam_local_stack(work: Path) -> Iterator[SamLocalStack]:
    """A moto container with the stack's resources, and the functions built to reach it."""
    docker_host = find_docker_host()
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
        try:
            yield SamLocalStack(stack, endpoint, local, built, env_vars, sam_env, work)
        finally:
            endpoint.stop()
