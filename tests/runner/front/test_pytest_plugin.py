"""The pytest plugin's `asyncrun_stack` fixture, on the echo template: one function whose
records go to a success and a failure queue, notified by a bucket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from asyncrun.pytest_plugin import StackFactory
from asyncrun.service.faults import Fault

ECHO = Path(__file__).parent / "templates" / "echo.yaml"


def test_an_event_runs_and_its_success_record_reaches_on_success(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO)
    request_id = stack.invoke_async("Echo", {"order": 7})
    result = stack.run()

    stack.assert_condition(request_id, "Success")
    stack.assert_attempts(request_id, 1)
    record = stack.success_record(request_id)
    assert record["requestContext"]["requestId"] == request_id
    assert record["responsePayload"] == {"echo": {"order": 7}}
    assert stack.messages("SuccessQueue") == [record]
    assert stack.messages("SuccessQueue") == []  # taken off the queue
    assert result.records("on_success") == [record]
    assert stack.metric("Echo", "Invocations") == 1


def test_a_failing_function_is_retried_and_its_record_reaches_on_failure(
    asyncrun_stack: StackFactory,
) -> None:
    stack = asyncrun_stack(ECHO, {"Mode": "fail"})
    request_id = stack.invoke_async(stack.function("Echo").arn, {"order": 8})
    stack.run()

    stack.assert_condition(request_id, "RetriesExhausted")
    stack.assert_attempts(request_id, 3)  # MaximumRetryAttempts: 2
    record = stack.failure_record(request_id)
    assert record["requestPayload"] == {"order": 8}
    assert record["responsePayload"]["errorMessage"] == "asked to fail"
    (message,) = stack.messages("FailureQueue")
    assert message == record


def test_the_clock_starts_where_asked_and_jumps_over_the_retries(asyncrun_stack: StackFactory) -> None:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    stack = asyncrun_stack(ECHO, {"Mode": "fail"}, clock_start=start)
    request_id = stack.invoke_async("Echo", {})
    stack.run()

    starts = [e.at - start.timestamp() for e in stack.trace if e.kind == "attempt_started"]
    assert [round(s) for s in starts] == [0, 60, 180]
    assert stack.failure_record(request_id)["timestamp"].startswith("2026-11-01T12:03:")


def test_an_injected_error_fails_one_attempt_and_the_retry_succeeds(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO)
    fault = stack.inject("Echo", "error", times=1)
    request_id = stack.invoke_async("Echo", {"n": 1})
    stack.run()

    assert [a.outcome for a in stack.attempts(request_id)] == ["error", "success"]
    assert fault.triggered == 1
    stack.assert_condition(request_id, "Success")
    assert stack.success_record(request_id)["requestContext"]["approximateInvokeCount"] == 2


def test_faults_given_as_the_command_line_writes_them(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO, faults=["Echo:throttle:1.0:2", Fault("Echo", "duplicate", times=1)])
    request_id = stack.invoke_async("Echo", {"n": 2})
    stack.run()

    assert stack.request_ids("Echo") == [request_id, request_id]  # delivered twice
    # each delivery is throttled until the two throttles are used up, then runs once
    outcomes = [a.outcome for a in stack.attempts(request_id)]
    assert outcomes.count("throttled") == 2
    assert outcomes.count("success") == 2
    assert len(stack.messages("SuccessQueue")) == 2


def test_max_environments_caps_the_environments_events_run_in(
    asyncrun_stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stack = asyncrun_stack(ECHO, max_environments=1)
    request_ids = [stack.invoke_async("Echo", {"n": n}) for n in range(3)]
    with caplog.at_level("WARNING"):
        stack.run()

    for request_id in request_ids:  # queued together, they overlap; one environment runs them all
        stack.assert_condition(request_id, "Success")
    assert f"more than 1 attempts of {stack.function('Echo').name} run at once" in caplog.text
    assert "--max-environments" in caplog.text


def test_max_environments_is_refused_below_1_and_with_the_thread_executor(
    asyncrun_stack: StackFactory,
) -> None:
    with pytest.raises(ValueError, match="at least 1, not 0"):
        asyncrun_stack(ECHO, max_environments=0)
    with pytest.raises(ValueError, match="applies to the process executor"):
        asyncrun_stack(ECHO, executor="thread", max_environments=1)


def test_a_fault_for_a_function_the_stack_does_not_have_is_a_mistake_in_the_test(
    asyncrun_stack: StackFactory,
) -> None:
    # It could never trigger: a run that passed with it would test nothing.
    with pytest.raises(AssertionError, match=r"fault: no function 'Ecko' in stack .*\(functions: Echo\)"):
        asyncrun_stack(ECHO, faults=["Ecko:error"])


def test_an_upload_notifies_the_function_with_the_s3_event(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO)
    stack.upload("Inbox", "in/a b.txt", "hello")
    stack.run()

    (request_id,) = stack.request_ids("Echo")
    event = stack.success_record(request_id)["requestPayload"]
    assert event["Records"][0]["s3"]["object"]["key"] == "in/a+b.txt"
    assert event["Records"][0]["s3"]["object"]["size"] == 5


def test_a_run_returns_only_what_it_did(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO)
    first = stack.invoke_async("Echo", {"n": 1})
    stack.run()
    second = stack.invoke_async("Echo", {"n": 2})
    result = stack.run()

    assert {event.request_id for event in result.trace} == {second}
    assert [d.request_id for d in result.deliveries] == [second]
    assert first in {event.request_id for event in stack.trace}


def test_a_failed_assertion_shows_the_runs_trace(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO, {"Mode": "fail"})
    request_id = stack.invoke_async("Echo", {})
    stack.run()

    with pytest.raises(AssertionError) as failure:
        stack.assert_condition(request_id, "Success")
    message = str(failure.value)
    assert f"request {request_id} ended with RetriesExhausted, not Success" in message
    assert "asyncrun trace of stack" in message
    assert "RuntimeError: asked to fail" in message
    assert "OnFailure SQS FailureQueue" in message
    with pytest.raises(AssertionError, match="expected one delivery to OnSuccess"):
        stack.success_record(request_id)
    with pytest.raises(AssertionError, match=r"ran 3 times \(error, error, error\), not 1"):
        stack.assert_attempts(request_id, 1)
    with pytest.raises(AssertionError, match=r"no function 'Nope'.*functions: Echo"):
        stack.inject("Nope", "error")


def test_the_plugin_is_active_without_a_conftest_and_each_test_starts_from_empty_storage(
    tmp_path: Path,
) -> None:
    """In a folder of its own, as another project would use it: one test leaves a message
    behind, the next finds an empty queue; a failing test's report shows the trace."""
    shutil.copy(ECHO, tmp_path / "template.yaml")
    shutil.copytree(ECHO.parent / "functions", tmp_path / "functions")
    (tmp_path / "test_echo.py").write_text(
        textwrap.dedent(
            """
            import os

            def test_leaves_a_message(asyncrun_stack):
                stack = asyncrun_stack("template.yaml")
                stack.invoke_async("Echo", {"left": "behind"})
                stack.run()

            def test_finds_an_empty_queue_and_its_environment_restored(asyncrun_stack):
                assert "AWS_ACCESS_KEY_ID" not in os.environ
                stack = asyncrun_stack("template.yaml")
                assert stack.messages("SuccessQueue") == []

            def test_fails(asyncrun_stack):
                stack = asyncrun_stack("template.yaml", {"Mode": "fail"})
                stack.invoke_async("Echo", {})
                stack.run()
                assert stack.metric("Echo", "Errors") == 0
            """
        )
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_echo.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = finished.stdout + finished.stderr
    assert "1 failed, 2 passed" in output, output
    assert "asyncrun trace of stack" in output
    assert "RetriesExhausted after 3 attempts" in output


def test_an_assertion_message_shows_the_end_of_a_long_trace(asyncrun_stack: StackFactory) -> None:
    stack = asyncrun_stack(ECHO, {"Mode": "fail"})
    request_ids = [stack.invoke_async("Echo", {"n": n}) for n in range(30)]
    stack.run()

    with pytest.raises(AssertionError) as failure:
        stack.assert_condition(request_ids[-1], "Success")
    trace = str(failure.value).split("asyncrun trace of stack")[1].splitlines()[1:]
    total = len(stack.format_trace().splitlines())
    assert total > 200
    assert trace[0] == f"  ... {total - 200} earlier lines"
    assert trace[1:] == stack.format_trace().splitlines()[-200:]


@pytest.mark.server
def test_a_stack_goes_to_the_endpoint_the_test_names(
    asyncrun_stack: StackFactory, socket_enabled: None
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        stack = asyncrun_stack(ECHO, endpoint_url=url)
        request_id = stack.invoke_async("Echo", {"n": 1})
        stack.run()

        assert not stack.endpoint.embedded
        assert stack.stack.queues["SuccessQueue"].url.startswith(url)  # created through the server
        (record,) = stack.messages("SuccessQueue")
        assert record["requestContext"]["requestId"] == request_id
    finally:
        server.stop()
