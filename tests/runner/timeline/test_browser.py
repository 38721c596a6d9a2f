"""The timeline page in a real browser (headless Chromium): the demo's page opened
from disk, a thousand events, and `asyncrun serve`'s live page."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from asyncrun.api.serve_process import ServeProcess
from asyncrun.api.timeline import write_page
from asyncrun.service.faults import Fault
from tests.runner.timeline.conftest import ARTIFACTS, DemoPage
from tests.runner.timeline.runs import CONFORMANCE, ECHO, ROOT, RecordedRun, template_run

OUTCOME_FILLS = {"#2f9e5b": "success", "#d9433f": "error", "#e8812c": "timeout", "#d8a412": "throttled"}
WALKTHROUGH = ROOT / "tests" / "runner" / "api" / "templates" / "walkthrough.yaml"


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "g.lane"))


def live_status(browser: Any) -> str:
    return str(browser.find_element(By.ID, "live").text)


def lanes(browser: Any) -> dict[str, int]:
    """Lane name -> rows drawn."""
    return {
        lane.get_attribute("data-lane"): int(lane.get_attribute("data-rows"))
        for lane in browser.find_elements(By.CSS_SELECTOR, "g.lane")
    }


def drawn(browser: Any, kind: str) -> list[Any]:
    return list(browser.find_elements(By.CSS_SELECTOR, f'[data-kind="{kind}"]'))


def console_errors(browser: Any) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def keep_screenshot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_the_demo_page_draws_each_lane_and_attempt_and_a_click_shows_the_record(
    browser: Any, demo_page: DemoPage
) -> None:
    report = demo_page.report
    open_page(browser, demo_page.path.as_uri())

    # a lane per function, for the bucket that notifies, and for the alert topic deliveries go to
    assert set(lanes(browser)) == {*report["metrics"], "UploadBucket", "AlertTopic"}
    # a bar per attempt, coloured by its outcome; a wait before each retry
    bars = drawn(browser, "attempt")
    assert Counter(OUTCOME_FILLS[bar.get_attribute("fill")] for bar in bars) == Counter(
        attempt["outcome"] for attempt in report["attempts"]
    )
    retries = sum(event["approximate_invoke_count"] - 1 for event in report["events"])
    assert len(drawn(browser, "wait")) == retries > 0
    assert len(drawn(browser, "note")) == 5  # five objects put; the sixth upload is a duplicate delivery
    assert len(drawn(browser, "destination")) == len(report["failure_records"]) == 2

    # a click on the last failed attempt of a request shows it, and the record its failure sent
    failed = next(e for e in report["events"] if e["condition"] == "RetriesExhausted")
    selector = f'[data-kind="attempt"][data-request="{failed["request_id"]}"][data-attempt="3"]'
    browser.find_element(By.CSS_SELECTOR, selector).click()
    details = browser.find_element(By.ID, "details")
    assert details.find_element(By.TAG_NAME, "h2").text.startswith("Attempt 3 of ")
    assert failed["request_id"] in details.text
    (record_text,) = [pre.text for pre in details.find_elements(By.CSS_SELECTOR, "pre.record")]
    record = json.loads(record_text)
    assert record["requestContext"]["requestId"] == failed["request_id"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3

    # a click on where that record went shows the delivery and the record
    marker = f'[data-kind="destination"][data-request="{failed["request_id"]}"]'
    browser.find_element(By.CSS_SELECTOR, marker).click()
    assert details.find_element(By.TAG_NAME, "h2").text == "OnFailure → AlertTopic delivered"
    shown = json.loads(details.find_element(By.CSS_SELECTOR, "pre.record").text)
    assert shown == record
    keep_screenshot(browser, "timeline-demo.png")

    # zooming out narrows the bars (all stay in view), and Fit draws them as before
    def widest() -> float:
        return max(float(bar.get_attribute("width")) for bar in drawn(browser, "attempt"))

    fitted = widest()
    browser.find_element(By.ID, "zoom-out").click()
    assert widest() < fitted / 1.5
    browser.find_element(By.ID, "fit").click()
    assert widest() == pytest.approx(fitted)
    assert console_errors(browser) == []


def test_a_thousand_events_draw_every_attempt_and_hide_links_until_one_is_chosen(
    browser: Any, thousand_event_run: RecordedRun, tmp_path: Path
) -> None:
    run = thousand_event_run
    path = write_page(tmp_path / "thousand.html", run.trace, run.stack, title="1000")
    open_page(browser, path.as_uri())

    attempts = sum(1 for event in thousand_event_run.trace if event.kind == "attempt_started")
    assert len(drawn(browser, "attempt")) == attempts
    assert lanes(browser)["Echo"] > 24  # a row per request in flight at once
    assert "links hidden" in browser.find_element(By.ID, "links-note").text
    assert drawn(browser, "delivery") == []

    # choosing a failed request draws its links again, and its record shows
    bar = next(b for b in drawn(browser, "attempt") if OUTCOME_FILLS[b.get_attribute("fill")] == "error")
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", bar)
    assert len(drawn(browser, "delivery")) == 1
    record = json.loads(browser.find_element(By.CSS_SELECTOR, "#details pre.record").text)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    keep_screenshot(browser, "timeline-1000-events.png")
    assert console_errors(browser) == []


def arrows(browser: Any, colour: str) -> int:
    """Links drawn in this colour (each ends in the arrowhead of its colour)."""
    return len(browser.find_elements(By.CSS_SELECTOR, f'path[marker-end="url(#head-{colour.lstrip("#")})"]'))


def test_dead_letter_deliveries_and_events_that_never_ran(browser: Any, tmp_path: Path) -> None:
    def act(engine: Any, endpoint: Any, stack: Any) -> None:
        engine.invoke_async("DeadLetterToQueue", {"action": "raise"})
        engine.invoke_async("Zero", {"never": "run"})

    run = template_run(CONFORMANCE / "core.yaml", act)
    open_page(browser, write_page(tmp_path / "dlq.html", run.trace, run.stack, title="dlq").as_uri())

    assert set(lanes(browser)) == {"DeadLetterToQueue", "Zero", "FailureQueue", "DeadLetterQueue"}
    assert len(drawn(browser, "attempt")) == 1  # Zero's event never ran
    assert len(drawn(browser, "destination")) == 4  # OnFailure and DLQ, for each
    assert arrows(browser, "#8e44ad") == 2  # purple: to the dead-letter queue
    assert "ZeroReservedConcurrency" in browser.find_element(By.ID, "lanes").text

    zero = run.stack.functions["Zero"].name
    (never_ran,) = [e.request_id for e in run.trace if e.kind == "accepted" and e.function == zero]
    marker = f'[data-kind="destination"][data-request="{never_ran}"][data-delivery="dead_letter"]'
    browser.find_element(By.CSS_SELECTOR, marker).click()
    details = browser.find_element(By.ID, "details")
    assert details.find_element(By.TAG_NAME, "h2").text == "DLQ → DeadLetterQueue delivered"
    assert "EVENT SENT TO THE DEAD-LETTER QUEUE" in details.text.upper()
    assert json.loads(details.find_element(By.CSS_SELECTOR, "pre.record").text) == {"never": "run"}
    assert console_errors(browser) == []


def test_overlapping_deliveries_of_one_request_each_get_their_outcome(browser: Any, tmp_path: Path) -> None:
    # A duplicate is queued as its original is accepted: both run at once, each in an
    # environment of its own, so the trace starts both before either ends.
    def act(engine: Any, endpoint: Any, stack: Any) -> None:
        engine.invoke_async("Echo", {"fail": True})

    run = template_run(ECHO, act, faults=[Fault("Echo", "duplicate", 1.0, 1)])
    kinds = [(e.kind, getattr(e, "attempt", None)) for e in run.trace if e.kind.startswith("attempt_")]
    assert kinds[:2] == [("attempt_started", 1), ("attempt_started", 1)]  # they overlap
    open_page(browser, write_page(tmp_path / "duplicate.html", run.trace, run.stack, title="dup").as_uri())

    bars = drawn(browser, "attempt")
    assert len(bars) == 6  # three attempts for each delivery
    assert {OUTCOME_FILLS.get(bar.get_attribute("fill"), "none") for bar in bars} == {"error"}
    assert len(drawn(browser, "wait")) == 4


def test_objects_written_by_a_function_and_lambda_destinations_link_to_their_cause(
    browser: Any, tmp_path: Path
) -> None:
    def loop(engine: Any, endpoint: Any, stack: Any) -> None:
        endpoint.client("s3").put_object(Bucket=stack.buckets["LoopBucket"].name, Key="k", Body=b"start")

    run = template_run(CONFORMANCE / "s3.yaml", loop)
    open_page(browser, write_page(tmp_path / "loop.html", run.trace, run.stack, title="loop").as_uri())

    notifications = [e for e in run.trace if e.kind == "s3_notification"]
    assert len(drawn(browser, "note")) == len(notifications) == 17
    # blue: each notification to the event it queued, and from the event that wrote the object
    assert arrows(browser, "#2f6fd0") == 17 + 16
    assert console_errors(browser) == []

    def chain(engine: Any, endpoint: Any, stack: Any) -> None:
        engine.invoke_async("ToLambda", {"action": "raise"})

    run = template_run(CONFORMANCE / "destinations.yaml", chain)
    open_page(browser, write_page(tmp_path / "chain.html", run.trace, run.stack, title="chain").as_uri())

    assert set(lanes(browser)) == {"ToLambda", "Recorder"}  # a Lambda destination is the function's lane
    assert arrows(browser, "#d9433f") == 1  # red: OnFailure, to the Recorder's event
    cause = next(e for e in run.trace if e.kind == "accepted" and e.source == "invoke")
    (recorder_bar,) = [
        bar for bar in drawn(browser, "attempt") if bar.get_attribute("data-request") != cause.request_id
    ]
    recorder_bar.click()
    assert f"caused by\nToLambda {cause.request_id[:8]}" in browser.find_element(By.ID, "details").text
    assert console_errors(browser) == []


@pytest.mark.server
def test_serve_draws_the_run_live_at_its_admin_path(browser: Any) -> None:
    with ServeProcess(WALKTHROUGH, args=["--stack-name", "live-timeline", "--virtual-clock"]) as serve:
        browser.get(f"{serve.url}/_asyncrun/")
        WebDriverWait(browser, 30).until(lambda driver: live_status(driver).startswith("live · 0 events"))
        assert drawn(browser, "attempt") == []
        assert "Waiting for the first event" in browser.find_element(By.ID, "lanes").text
        assert "asyncrun serve" in browser.title

        client = boto3.client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=serve.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        answer = client.invoke(
            FunctionName="destination-tester", InvocationType="Event", Payload=b'{"Success": true}'
        )
        assert answer["StatusCode"] == 202

        # the page polls the trace: the attempt appears without a reload
        WebDriverWait(browser, 30).until(lambda driver: drawn(driver, "attempt"))
        (bar,) = drawn(browser, "attempt")
        assert OUTCOME_FILLS[bar.get_attribute("fill")] == "success"
        assert live_status(browser).startswith("live · ")
        assert lanes(browser) == {"DestinationTesterFunction": 1}  # the logical id, as in the template
        keep_screenshot(browser, "timeline-serve.png")
        assert console_errors(browser) == []


def test_markup_in_an_error_or_a_record_is_shown_as_text(
    browser: Any, small_run: RecordedRun, tmp_path: Path
) -> None:
    # (the error type goes into the drawing's tooltips, the message and the record into the panel)
    hostile = '</script><img src=x onerror="window.injected=1"><b>bold</b>'
    trace = [
        event.model_copy(update={"error_type": hostile, "error_message": hostile})
        if event.kind == "attempt_finished" and event.outcome == "error"
        else event.model_copy(update={"body": json.dumps({"requestPayload": hostile})})
        if event.kind == "delivery"
        else event
        for event in small_run.trace
    ]
    open_page(browser, write_page(tmp_path / "hostile.html", trace, small_run.stack, title=hostile).as_uri())

    bars = drawn(browser, "attempt")
    failed = next(bar for bar in bars if OUTCOME_FILLS[bar.get_attribute("fill")] == "error")
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", failed)
    details = browser.find_element(By.ID, "details")
    assert hostile in details.find_element(By.TAG_NAME, "pre").text
    assert hostile in json.loads(details.find_element(By.CSS_SELECTOR, "pre.record").text)["requestPayload"]
    assert browser.find_element(By.ID, "title").text == hostile
    assert browser.execute_script("return window.injected") is None
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert "bold" not in [element.text for element in browser.find_elements(By.TAG_NAME, "b")]
