"""Schedules fire on the engine's clock: EventBridge rules with a schedule
expression (SAM Schedule) and EventBridge Scheduler schedules (SAM ScheduleV2)."""

from __future__ import annotations

from asyncrun.service.clock import VirtualClock
from asyncrun.stack.model import InvokeConfig

START = 1_800_000_030.0  # 2027-01-15T08:00:30Z
HOUR = 3600.0


def _ticks(h) -> list[dict]:
    return [body["event"] for body in h.bodies("TickRecords")]


def test_a_rate_rule_fires_twelve_times_in_a_virtual_hour(harness):
    h = harness("sources", clock=VirtualClock(START))
    h.engine.run_until(START + HOUR)
    ticks = _ticks(h)
    scheduled = [t for t in ticks if t.get("detail-type") == "Scheduled Event"]
    assert [t["time"] for t in scheduled] == [
        f"2027-01-15T{8 + (m + 5) // 60:02d}:{(m + 5) % 60:02d}:30Z" for m in range(0, 60, 5)
    ]
    rule = h.stack.rules["TickerEveryFiveMinutes"]
    assert scheduled[0] == {
        "version": "0",
        "id": scheduled[0]["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": h.stack.account_id,
        "time": "2027-01-15T08:05:30Z",
        "region": h.stack.region,
        "resources": [rule.arn],
        "detail": {},
    }
    # The clock reads the deadline, plus the last tick's attempt, which started on it.
    assert START + HOUR <= h.engine.clock.now() < START + HOUR + 3


def test_a_scheduler_cron_schedule_fires_on_the_hour_with_its_input(harness):
    h = harness("sources", clock=VirtualClock(START))
    h.engine.run_until(START + 2 * HOUR)
    hourly = [t for t in _ticks(h) if t.get("scheduler")]
    assert hourly == [
        {"scheduler": True, "at": "2027-01-15T09:00:00Z"},
        {"scheduler": True, "at": "2027-01-15T10:00:00Z"},
    ]


def test_an_idle_run_ends_and_schedules_fire_only_while_other_work_remains(harness):
    h = harness("sources", clock=VirtualClock(START))
    h.run()  # nothing queued: ends at once, nothing fired
    assert h.engine.clock.now() == START
    assert _ticks(h) == []
    # A retried event keeps the run going 180 s: the schedule fires in that window only.
    h.engine.put_invoke_config(InvokeConfig(function_name=h.name("ToBus"), maximum_retry_attempts=2))
    h.engine.invoke_async("ToBus", {"action": "raise"})
    h.run()
    assert h.engine.pending == 0
    assert 180 <= h.engine.clock.now() - START < 300
    assert _ticks(h) == []  # the first tick is due at 300 s
    h.engine.run_until(START + 600)
    assert len(_ticks(h)) == 2
