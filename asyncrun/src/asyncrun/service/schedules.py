"""Schedules on the engine's clock: EventBridge rules with a `ScheduleExpression`
(SAM `Schedule`) and EventBridge Scheduler schedules (`AWS::Scheduler::Schedule`,
SAM `ScheduleV2`), each invoking its Lambda targets asynchronously when it falls due.

How a schedule meets "run until idle": a schedule never ends, so it does not keep a
run alive. `Engine.run_until_idle` fires every schedule that falls due while other
work remains (up to the moment the last queued event is done); `Engine.run_until`
(the CLI's `--run-for`) runs the clock to a given time, firing every schedule on the
way, so a `rate(5 minutes)` rule fires 12 times in a virtual hour. Under `serve`,
schedules fire as the clock passes them.

Timing choices (the services say "within" the period): a rate schedule first fires
one period after the engine starts, then every period (**unverified**); a cron
schedule fires at the start of each matching minute, `time` being that minute."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asyncrun.service.eventbridge import apply_target_input, lambda_targets
from asyncrun.service.sources import SourceInvocation, is_stack_function
from asyncrun.stack.model import RuleSpec, SchedulerScheduleSpec, Stack

log = logging.getLogger(__name__)

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_SEARCH_YEARS = 10  # a cron expression that matches nothing in ten years is treated as never


class ScheduleError(ValueError):
    pass


class Expression:
    """`rate(...)`, `cron(...)` or (Scheduler only) `at(...)`: the fire times after a moment."""

    def __init__(self, text: str, timezone: str = "UTC") -> None:
        self.text = text.strip()
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {timezone!r}") from None
        self.period: float | None = None
        self.at: datetime | None = None
        self.fields: list[set[int] | None] = []
        if match := re.fullmatch(r"rate\(\s*(\d+)\s+(\w+)\s*\)", self.text):
            value, unit = int(match.group(1)), match.group(2).lower()
            singular = unit in ("minute", "hour", "day")
            if unit not in _UNITS or value < 1 or singular != (value == 1):
                raise ScheduleError(
                    f"{self.text}: a rate is 1 minute|hour|day or a larger number of minutes|hours|days"
                )
            self.period = float(value * _UNITS[unit])
        elif match := re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", self.text):
            self.at = datetime.fromisoformat(match.group(1)).replace(tzinfo=self.zone)
        elif match := re.fullmatch(r"cron\((.*)\)", self.text):
            self.fields = _cron_fields(match.group(1), self.text)
        else:
            raise ScheduleError(f"{self.text}: not a rate(...), cron(...) or at(...) expression")

    def fire_times(self, start: float) -> Iterator[float]:
        """Every fire time after `start` (epoch seconds), in order."""
        if self.period is not None:
            due = start + self.period
            while True:
                yield due
                due += self.period
        elif self.at is not None:
            if self.at.timestamp() > start:
                yield self.at.timestamp()
        else:
            moment = datetime.fromtimestamp(start, self.zone).replace(second=0, microsecond=0)
            while (found := self._next_cron(moment + timedelta(minutes=1))) is not None:
                yield found.timestamp()
                moment = found

    def _next_cron(self, moment: datetime) -> datetime | None:
        minutes, hours, days, months, weekdays, years = self.fields
        limit = moment.year + _SEARCH_YEARS
        while moment.year <= limit:
            if (years is not None and moment.year not in years) or (
                months is not None and moment.month not in months
            ):
                moment = _first_of_next_month(moment)
                continue
            weekday = (moment.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
            if (days is not None and moment.day not in days) or (
                weekdays is not None and weekday not in weekdays
            ):
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if hours is not None and moment.hour not in hours:
                moment = (moment + timedelta(hours=1)).replace(minute=0)
                continue
            if minutes is not None and moment.minute not in minutes:
                moment += timedelta(minutes=1)
                continue
            return moment
        return None


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)


def _cron_fields(body: str, text: str) -> list[set[int] | None]:
    parts = body.split()
    if len(parts) != 6:
        raise ScheduleError(
            f"{text}: cron takes six fields (minutes hours day-of-month month day-of-week year)"
        )
    bounds = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _WEEKDAYS), (1970, 2199, {})]
    fields = [
        _cron_field(part, low, high, names, text)
        for part, (low, high, names) in zip(parts, bounds, strict=True)
    ]
    return fields


def _cron_field(part: str, low: int, high: int, names: dict[str, int], text: str) -> set[int] | None:
    if part in ("*", "?"):
        return None
    for name, value in names.items():
        part = re.sub(name, str(value), part, flags=re.IGNORECASE)
    if re.search(r"[LW#]", part.upper()):
        raise ScheduleError(f"{text}: the L, W and # cron wildcards are not supported locally")
    values: set[int] = set()
    for item in part.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/", 1)
            step = int(step_text)
        if item == "*":
            first, last = low, high
        elif "-" in item:
            first_text, last_text = item.split("-", 1)
            first, last = _cron_value(first_text, text), _cron_value(last_text, text)
        else:
            first = _cron_value(item, text)
            last = high if step != 1 else first
        if not low <= first <= high or not low <= last <= high:
            raise ScheduleError(f"{text}: {item} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def _cron_value(text: str, expression: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ScheduleError(f"{expression}: {text!r} is not a cron value") from None


@dataclass
class _Schedule:
    name: str
    expression: Expression
    times: Iterator[float]
    due: float | None
    fire: Any  # (scheduled time) -> list[SourceInvocation]
    end: float | None = None
    fired: int = field(default=0)


class Schedules:
    """Every schedule of the stack, with the next time each falls due."""

    def __init__(self, stack: Stack, start: float) -> None:
        self._stack = stack
        self._schedules: list[_Schedule] = []
        for rule in stack.rules.values():
            if rule.schedule_expression is not None:
                self._add_rule(rule, start)
        for schedule in stack.scheduler_schedules:
            self._add_scheduler(schedule, start)

    def _add(
        self, name: str, expression: Expression, start: float, fire: Any, end: float | None = None
    ) -> None:
        times = expression.fire_times(start)
        self._schedules.append(_Schedule(name, expression, times, next(times, None), fire, end))

    def _add_rule(self, rule: RuleSpec, start: float) -> None:
        assert rule.schedule_expression is not None
        if rule.state != "ENABLED":
            log.debug("rule %s is %s: its schedule does not fire", rule.name, rule.state)
            return
        try:
            expression = Expression(rule.schedule_expression)
        except ScheduleError as error:
            log.warning("rule %s (%s): %s; the schedule does not fire", rule.name, rule.logical_id, error)
            return
        targets = lambda_targets(rule, self._stack)  # the others: the provisioner has said
        if not targets:
            return

        def fire(at: float) -> list[SourceInvocation]:
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self._stack.account_id,
                "time": _event_time(at),
                "region": self._stack.region,
                "resources": [rule.arn],
                "detail": {},
            }
            return [
                SourceInvocation(target.arn, apply_target_input(event, target, rule), "schedule")
                for target in targets
            ]

        self._add(rule.name, expression, start, fire)

    def _add_scheduler(self, spec: SchedulerScheduleSpec, start: float) -> None:
        if spec.state != "ENABLED":
            log.debug("schedule %s is %s: it does not fire", spec.name, spec.state)
            return
        if not is_stack_function(self._stack, spec.target_arn):
            log.warning(
                "schedule %s (%s): target %s is not a Lambda function of this stack; EventBridge Scheduler's "
                "other targets are not emulated, so it does not fire",
                spec.name,
                spec.logical_id,
                spec.target_arn,
            )
            return
        try:
            expression = Expression(spec.expression, spec.timezone)
        except ScheduleError as error:
            log.warning("schedule %s (%s): %s; it does not fire", spec.name, spec.logical_id, error)
            return
        for gap in spec.unsupported:
            log.warning("schedule %s (%s): %s", spec.name, spec.logical_id, gap)
        begin = max(start, spec.start_date) if spec.start_date is not None else start
        region, account = self._stack.region, self._stack.account_id
        arn = f"arn:aws:scheduler:{region}:{account}:schedule/{spec.group}/{spec.name}"

        def fire(at: float) -> list[SourceInvocation]:
            # Scheduler's context attributes, substituted into the input as its templated
            # targets do; no input at all is sent as {} (**unverified**).
            text = spec.input if spec.input is not None else "{}"
            for name, value in (
                ("aws.scheduler.schedule-arn", arn),
                ("aws.scheduler.scheduled-time", _event_time(at)),
                ("aws.scheduler.execution-id", str(uuid.uuid4())),
                ("aws.scheduler.attempt-number", "1"),
            ):
                text = text.replace(f"<{name}>", value)
            return [SourceInvocation(spec.target_arn, text.encode(), "scheduler")]

        self._add(spec.name, expression, begin, fire, spec.end_date)

    @property
    def active(self) -> bool:
        return any(schedule.due is not None for schedule in self._schedules)

    def next_due(self) -> float | None:
        dues = [s.due for s in self._schedules if s.due is not None]
        return min(dues) if dues else None

    def fire_next(self) -> tuple[float, list[SourceInvocation]]:
        """The earliest due schedule's invocations, and its time; the schedule moves on."""
        schedule = min((s for s in self._schedules if s.due is not None), key=lambda s: s.due or 0.0)
        at = schedule.due
        assert at is not None
        schedule.due = next(schedule.times, None)
        if schedule.end is not None and schedule.due is not None and schedule.due > schedule.end:
            schedule.due = None
        schedule.fired += 1
        return at, schedule.fire(at)


def _event_time(at: float) -> str:
    """EventBridge's `time`: UTC to the second."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
