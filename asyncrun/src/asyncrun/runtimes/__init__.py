"""Where a function's code runs for one attempt: the implementations of the service's
`Executor` protocol (`asyncrun.service.executor`) and what they share.

- `environments`: an OS process per execution environment, as Lambda runs them (the
  default), from a pool per function version (`pool`) so attempts that run at once get
  one each; `worker` is the program each such process runs; `responses`, the Python
  runtime's marshalling of a handler's answer.
- `inprocess`: handlers in a thread of this process, for stepping through one in a
  debugger; nothing is isolated.
- `samlocal`, `containers`: Lambda runtime containers through `sam local start-lambda`.
- `context`: the Lambda context handed to handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncrun.service.executor import Executor
    from asyncrun.stack.endpoint import Endpoint
    from asyncrun.stack.model import Stack

# process: an OS process per execution environment (the default); thread: handlers in
# this process, for a debugger, not isolated. (sam-local is started by the command line.)
LOCAL_EXECUTORS = ("process", "thread")


def local_executor(
    kind: str, stack: Stack, endpoint: Endpoint, *, max_environments: int | None = None
) -> Executor:
    """The executor `--executor process` or `--executor thread` names. A process
    executor holds worker processes: `close()` it when the run ends. `max_environments`
    caps each function version's environments (the process executor's; None: its
    default); the thread executor has one per function and refuses any number, as the
    command line does."""
    if kind == "thread":
        from asyncrun.runtimes.inprocess import ThreadExecutor

        if max_environments is not None:
            raise ValueError(
                "max_environments applies to the process executor: the thread executor runs one "
                "attempt of a function at a time"
            )
        return ThreadExecutor(endpoint, region=stack.region)
    from asyncrun.runtimes.environments import ProcessExecutor
    from asyncrun.runtimes.pool import MAX_ENVIRONMENTS

    if max_environments is not None and max_environments < 1:
        raise ValueError(f"max_environments must be at least 1, not {max_environments}")
    return ProcessExecutor(
        endpoint, region=stack.region, max_environments=max_environments or MAX_ENVIRONMENTS
    )


def default_executor(stack: Stack, endpoint: Endpoint) -> Executor:
    """The executor a run uses unless it asks for another."""
    return local_executor("process", stack, endpoint)
