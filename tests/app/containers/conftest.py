"""The built functions in Lambda runtime containers: `sam build` of a local copy of the
template (code paths absolute, `AWS_ENDPOINT_URL` declared), a moto container on the
functions' network holding the stack's resources (created by asyncrun's `provision`,
named as the template names them), and `sam local invoke` of a function with a
sample event. Skipped, with the reason, when no container engine answers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from asyncrun.runtimes.containers import engine_problem
from tests.support.events import function_inputs, load_event, put_and_pin, sample_contents
from tests.support.sam_local import Invocation, SamLocalStack, sam_local_stack

HERE = Path(__file__).parent
FUNCTION_INPUTS = function_inputs()


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


@pytest.fixture(scope="session")
def sam_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocalStack]:
    with sam_local_stack(tmp_path_factory.mktemp("sam-local")) as stack:
        yield stack


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
