"""Where a function's code runs for one attempt: the implementations of the service's
`Executor` protocol (`asyncrun.service.executor`), and the Lambda context they hand
to handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncrun.service.executor import Executor
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.model import Stack


def default_executor(stack: Stack, endpoint: Endpoint) -> Executor:
    """The executor a run uses unless it asks for another."""
    from asyncrun.runtimes.inprocess import InProcessExecutor

    return InProcessExecutor(endpoint, region=stack.region)
