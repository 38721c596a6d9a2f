"""The executors: each function in its own execution environment (a process of its
own, or a Lambda runtime container), with Lambda's environment and context, warm
between calls; and the thread executor's sandbox, which keeps a function's modules
apart from the runner's. Environments are shared by the whole session, so state
counts are compared with the first call's, not with 1."""

from __future__ import annotations

import json
import os
import sys

import pytest

from asyncrun.errors import TooManyRequestsError
from asyncrun.runtimes.inprocess import ThreadExecutor, layer_python_root


def _sync(h, function, payload, **kwargs):
    result = h.engine.invoke_sync(function, payload, **kwargs)
    return json.loads(result.payload)


def test_each_function_has_its_own_copy_of_layer_modules_and_stays_warm(harness):
    # Given two functions from the same folder with the same layer (module-level counter)
    h = harness("core")
    counts = [
        _sync(h, fn, {"action": "counter"})["count"] for fn in ("Worker", "Worker", "Twin", "Worker", "Twin")
    ]
    # Then each counts on its own, and keeps its state between calls (warm)
    worker, twin = counts[0], counts[2]
    assert counts == [worker, worker + 1, twin, worker + 2, twin + 1]


@pytest.mark.parametrize(
    ("function", "failure"), [("Worker", {"action": "exit"}), ("Sleepy", {"action": "sleep", "seconds": 2})]
)
def test_a_timeout_or_a_crash_starts_a_new_environment(harness, function, failure):
    h = harness("core")
    first = _sync(h, function, {"action": "counter"})["count"]
    assert _sync(h, function, {"action": "counter"})["count"] == first + 1  # warm
    h.engine.invoke_sync(function, failure)
    assert _sync(h, function, {"action": "counter"})["count"] == 1  # cold again


@pytest.mark.in_process_only("inspects this process's modules and environment")
def test_the_thread_executors_function_modules_do_not_leak_into_the_runner(harness, endpoint):
    h = harness("core", executor=ThreadExecutor(endpoint))
    before = set(sys.modules)
    _sync(h, "Worker", {"action": "counter"})
    assert "counterlib" not in sys.modules
    assert not [name for name in set(sys.modules) - before if "_asyncrun_fn_" in name]
    assert "GREETING" not in os.environ


@pytest.mark.in_process_only("the thread executor runs the functions in this process")
def test_the_thread_executor_says_its_functions_own_invokes_do_not_reach_the_engine(
    harness, endpoint, caplog
):
    with caplog.at_level("WARNING"):
        h = harness("core", executor=ThreadExecutor(endpoint))
        _sync(h, "Worker", {"action": "counter"})
    if endpoint.embedded:
        assert "their own lambda.invoke and event-invoke-config calls go to moto" in caplog.text
    else:  # the engine says it for any executor
        assert "go to " + endpoint.url + ", not to asyncrun" in caplog.text


def test_the_environment_is_lambdas_and_the_templates(harness):
    h = harness("core")
    seen = _sync(h, "Worker", {"action": "context"})
    worker = h.function("Worker")
    assert seen["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": worker.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "TZ": ":UTC",
        "AWS_SAM_LOCAL": "true",
        "GREETING": "hello",
        "_HANDLER": "app.lambda_handler",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    }


@pytest.mark.in_process_only(
    "sam local's emulator runs every call as $LATEST and builds the invoked ARN from a fixed account "
    "and no qualifier"
)
def test_the_context_names_the_function_version_and_invoked_arn(harness):
    h = harness("core")
    aliased = h.function("Aliased")
    unqualified = _sync(h, "Aliased", {"action": "context"})
    through_alias = _sync(h, "Aliased", {"action": "context"}, qualifier="live")
    assert unqualified["function_name"] == aliased.name
    assert unqualified["function_version"] == "$LATEST"
    assert unqualified["invoked_function_arn"] == aliased.arn
    assert through_alias["function_version"] == aliased.aliases["live"]
    assert through_alias["invoked_function_arn"] == f"{aliased.arn}:live"
    assert through_alias["memory_limit_in_mb"] == "256"  # text, as the Python runtime hands it over
    assert 0 < through_alias["remaining_ms"] <= 3000


@pytest.mark.in_process_only(
    "sam local's emulator makes up a request id for every call and has no way to be given one"
)
def test_asynchronous_attempts_get_the_events_request_id_in_the_context(harness):
    h = harness("core")
    request_id = h.engine.invoke_async("Worker", {"action": "context"})
    h.run()
    assert h.one_body("SuccessQueue")["responsePayload"]["aws_request_id"] == request_id


@pytest.mark.in_process_only("edits the loaded stack; sam local runs the template as written")
def test_a_missing_handler_is_a_runtime_error(harness):
    def rename(stack):
        stack.functions["Twin"].handler = "app.nowhere"

    h = harness("core", edit=rename)
    error = _sync(h, "Twin", {})
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'nowhere' missing on module 'app'"


def test_a_synchronous_invoke_of_a_zero_concurrency_function_is_throttled(harness):
    h = harness("core")
    with pytest.raises(TooManyRequestsError) as throttled:
        h.engine.invoke_sync("Zero", {})
    assert (throttled.value.status, throttled.value.code) == (429, "TooManyRequestsException")


def test_a_layer_with_a_python_folder_uses_it(tmp_path):
    (tmp_path / "python").mkdir()
    assert layer_python_root(tmp_path) == tmp_path / "python"
    assert layer_python_root(tmp_path / "python") == tmp_path / "python"


@pytest.mark.in_process_only("inspects this process's modules")
def test_the_runners_own_import_of_a_layer_module_is_neither_used_nor_lost(harness, endpoint, monkeypatch):
    # Given the test process has imported the layer's module itself and bumped it
    h = harness("core", executor=ThreadExecutor(endpoint))
    monkeypatch.syspath_prepend(str(layer_python_root(h.function("Worker").layer_dirs[0])))
    assert "counterlib" not in sys.modules
    try:
        import counterlib  # the runner's copy

        counterlib.bump()
        counterlib.bump()
        # When the function counts
        assert _sync(h, "Worker", {"action": "counter"})["count"] == 1
        # Then it used its own copy, and the runner's copy is back in place, untouched
        assert sys.modules["counterlib"] is counterlib
        assert counterlib.bump() == 3
    finally:
        sys.modules.pop("counterlib", None)


def test_each_attempts_log_is_kept_from_start_to_report_with_the_events_request_id(harness):
    # Given a function that prints, run in each executor (a process, or a container)
    h = harness("core")
    marker = f"marker-{os.getpid()}-{len(h.engine.trace)}"
    request_id = h.engine.invoke_async("Worker", {"action": "print", "marker": marker})
    h.run()
    (logs,) = [e.logs for e in h.engine.trace if e.kind == "attempt_finished" and e.request_id == request_id]
    # Then its log is framed as Lambda frames it, under the event's own request id
    lines = logs.splitlines()
    assert lines[0].startswith(f"START RequestId: {request_id}")
    assert f"printed {marker}" in lines
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}")
    # ... and is in CloudWatch Logs, in the function's group
    group = h.function("Worker").log_group
    events = h.endpoint.client("logs").filter_log_events(logGroupName=group)["events"]
    assert f"printed {marker}" in [event["message"] for event in events]
