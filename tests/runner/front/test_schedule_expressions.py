"""Schedule expressions and target input transformation, on their own: when each
expression fires, and what a target's input settings make of an event."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from asyncrun.service.eventbridge import apply_target_input, json_path
from asyncrun.service.schedules import Expression, ScheduleError
from asyncrun.stack.model import RuleSpec, RuleTarget

START = datetime(2027, 1, 15, 8, 0, 30, tzinfo=UTC).timestamp()  # a Friday


def fires(text: str, count: int, timezone: str = "UTC") -> list[str]:
    times = Expression(text, timezone).fire_times(START)
    return [
        datetime.fromtimestamp(t, UTC).strftime("%a %Y-%m-%d %H:%M") for t in itertools.islice(times, count)
    ]


def test_a_rate_fires_one_period_after_the_start_then_every_period() -> None:
    assert fires("rate(1 hour)", 2) == ["Fri 2027-01-15 09:00", "Fri 2027-01-15 10:00"]


@pytest.mark.parametrize("text", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(2 weeks)"])
def test_a_rate_needs_a_positive_number_and_the_right_unit(text: str) -> None:
    with pytest.raises(ScheduleError):
        Expression(text)


def test_cron_weekdays_names_and_ranges() -> None:
    assert fires("cron(0 12 ? * MON-FRI *)", 3) == [
        "Fri 2027-01-15 12:00",
        "Mon 2027-01-18 12:00",
        "Tue 2027-01-19 12:00",
    ]


def test_cron_steps_and_lists() -> None:
    assert fires("cron(0/20 8,10 * * ? *)", 4) == [
        "Fri 2027-01-15 08:20",
        "Fri 2027-01-15 08:40",
        "Fri 2027-01-15 10:00",
        "Fri 2027-01-15 10:20",
    ]


def test_cron_day_of_month_month_and_year() -> None:
    assert fires("cron(30 6 1 JAN,JUL ? 2027-2028)", 3) == [
        "Thu 2027-07-01 06:30",
        "Sat 2028-01-01 06:30",
        "Sat 2028-07-01 06:30",
    ]
    assert fires("cron(0 0 1 1 ? 2026)", 1) == []


def test_cron_in_a_time_zone_fires_at_that_zones_hour() -> None:
    assert fires("cron(0 9 * * ? *)", 1, "Europe/Paris") == ["Sat 2027-01-16 08:00"]


def test_at_fires_once() -> None:
    assert fires("at(2027-01-15T09:30:00)", 3) == ["Fri 2027-01-15 09:30"]
    assert fires("at(2027-01-15T07:30:00)", 3) == []


@pytest.mark.parametrize(
    "text", ["cron(0 12 L * ? *)", "cron(0 12 ? * 6#3 *)", "cron(0 12 * *)", "every day"]
)
def test_what_cannot_be_scheduled_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ScheduleError):
        Expression(text)


EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Order Shipped",
    "source": "shop",
    "detail": {"id": 'o-"1"', "items": [{"sku": "a"}], "total": 12.5},
}
RULE = RuleSpec(
    logical_id="R",
    name="orders",
    arn="arn:aws:events:us-east-1:1:rule/orders",
    bus_name="default",
    event_pattern={},
)


def transformed(template: str, paths: dict[str, str]) -> object:
    target = RuleTarget(
        id="t",
        arn="arn:aws:lambda:us-east-1:1:function:f",
        input_transformer={"InputPathsMap": paths, "InputTemplate": template},
    )
    return json.loads(apply_target_input(EVENT, target, RULE))


def test_json_paths_reach_into_objects_and_lists() -> None:
    assert json_path(EVENT, "$") == EVENT
    assert json_path(EVENT, "$.detail-type") == "Order Shipped"
    assert json_path(EVENT, "$.detail.items[0].sku") == "a"
    assert json_path(EVENT, "$.detail.missing.deeper") is None


def test_a_placeholder_in_a_string_takes_the_text_escaped_and_elsewhere_the_json_value() -> None:
    assert transformed(
        '{"text": "order <id> of <total>", "id": <id>, "items": <items>, "rule": "<aws.events.rule-name>"}',
        {"id": "$.detail.id", "total": "$.detail.total", "items": "$.detail.items"},
    ) == {"text": 'order o-"1" of 12.5', "id": 'o-"1"', "items": [{"sku": "a"}], "rule": "orders"}


def test_a_template_that_is_not_json_reaches_the_function_as_a_json_string() -> None:
    assert transformed("order <total> shipped", {"total": "$.detail.total"}) == "order 12.5 shipped"


def test_a_path_that_matches_nothing_is_null() -> None:
    assert transformed('{"gone": <gone>}', {"gone": "$.detail.nothing"}) == {"gone": None}


def test_input_and_input_path() -> None:
    arn = "arn:aws:lambda:us-east-1:1:function:f"
    assert (
        apply_target_input(EVENT, RuleTarget(id="a", arn=arn, input='{"fixed": 1}'), RULE) == b'{"fixed": 1}'
    )
    assert json.loads(
        apply_target_input(EVENT, RuleTarget(id="b", arn=arn, input_path="$.detail.items"), RULE)
    ) == [{"sku": "a"}]
