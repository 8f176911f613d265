"""Every form a connection's `schedule:` takes, as pydantic models (compiled by schedules.py).

Rooftop's own forms are `manual`, `{cron}`, `{every}` and `{week}` slots. Next to them, Propexo's
`custom_sync_schedule` is accepted as Propexo's API writes it (`type: WEEK_BASED`, `timezone`,
`interval` per weekday with `slots` of `start`/`end`/`sync_frequency`/`sync_cadence`), so a seed's
schedule can be pasted as is; it means exactly the same week slots. A list of these forms gives a
connection several schedules. Kept apart from models.py, which was at the module size limit.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from pipelines.config.base import Model, Timezone, check_timezone
from protocol.durations import HOUR, Duration, format_duration

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
CADENCE_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
"""Propexo's `sync_cadence` units that a slot can take; WEEK and MONTH are refused (see _week_based_every)."""


CRON_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_ITEM = re.compile(r"(?:\*|(?P<a>0|[1-9][0-9]?)(?:-(?P<b>0|[1-9][0-9]?))?)(?:/(?P<n>[1-9][0-9]?))?")


def plain_cron(expr: str) -> bool:
    """Whether `expr` is five fields of `*`, numbers, ranges and steps within each field's range: a
    subset croniter accepts (tests/test_cron_subset.py compares them), checked without importing
    croniter (~10 ms, which `rooftop status` and `validate` would pay for every cron schedule)."""
    fields = expr.split()
    if len(fields) != 5:
        return False
    for field, (low, high) in zip(fields, CRON_FIELD_RANGES, strict=True):
        for item in field.split(","):
            match = _CRON_ITEM.fullmatch(item)
            if match is None:
                return False
            a, b, n = match["a"], match["b"], match["n"]
            if a is None and b is None:  # * or */n
                if n is not None and int(n) > high:
                    return False
                continue
            first, last = int(a), int(b if b is not None else a)
            if not low <= first <= last <= high or (n is not None and (b is None or int(n) > high)):
                return False
    return True


def _croniter_accepts(expr: str) -> bool:
    from croniter import croniter  # the rest of cron: names, L, W, #, lists croniter reads its own way

    return bool(croniter.is_valid(expr))


class CronSchedule(Model):
    cron: str | list[str] = Field(description="5-field cron expression(s).")
    timezone: Timezone = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | list[str]) -> str | list[str]:
        for expr in [value] if isinstance(value, str) else value:
            if len(expr.split()) != 5 or not (plain_cron(expr) or _croniter_accepts(expr)):
                raise ValueError(f"{expr!r} is not a valid 5-field cron expression (minute hour day month weekday)")
        return value

    _tz = field_validator("timezone")(check_timezone)


class IntervalSchedule(Model):
    every: Duration = Field(description="Minutes that divide an hour, hours that divide a day, or 1 day, "
                                        "e.g. '15 minutes' (a duration: docs/connection-yaml.md#durations).")
    timezone: Timezone = "UTC"

    @field_validator("every")
    @classmethod
    def _divides_unit(cls, seconds: float) -> float:
        every = format_duration(seconds)
        if seconds < 60 or seconds % 60:
            raise ValueError(f"'every: {every}' must be a whole number of minutes, at least 1 minute")
        minutes = int(seconds // 60)
        if minutes < 60 and 60 % minutes:
            raise ValueError(f"every {minutes} minutes does not divide an hour evenly; use a cron schedule instead")
        if 60 <= minutes < 1440 and (minutes % 60 or 24 % (minutes // 60)):
            raise ValueError(f"every {every} does not divide a day evenly; use a cron schedule instead")
        if minutes > 1440:
            # Cron has no "every N days" (`*/2` restarts each month): a steady interval needs cron's own terms.
            raise ValueError(f"every {every} is longer than a day; use a cron schedule instead "
                             "(e.g. '0 6 * * 1' for weekly)")
        return seconds

    _tz = field_validator("timezone")(check_timezone)


def _check_window(start: time, end: time, every: float, said: str) -> None:
    """A slot fires at start, start + every, … before end: end after start, whole minutes apart."""
    if end <= start:
        raise ValueError(f"slot end {end:%H:%M} must be after start {start:%H:%M}")
    # No divisibility rule, unlike `every:` schedules: a slot is a bounded window, so its fire
    # times are listed one by one (schedules.week_to_crons) rather than as a cron step.
    if every < 60 or every % 60:
        raise ValueError(f"slot {said} must be a whole number of minutes, at least 1 minute")


class WeekSlot(Model):
    start: time
    end: time
    every: Duration = Field(default=HOUR, description="Any whole number of minutes or hours (e.g. '45 minutes', "
                                                      "'90 minutes'): the slot fires at start, start + every, … "
                                                      "before end; compiled to those exact times.")

    @model_validator(mode="after")
    def _ordered(self) -> WeekSlot:
        _check_window(self.start, self.end, self.every, f"'every: {format_duration(self.every)}'")
        return self


class WeekSlots(Model):
    timezone: Timezone = "UTC"
    MONDAY: list[WeekSlot] = []
    TUESDAY: list[WeekSlot] = []
    WEDNESDAY: list[WeekSlot] = []
    THURSDAY: list[WeekSlot] = []
    FRIDAY: list[WeekSlot] = []
    SATURDAY: list[WeekSlot] = []
    SUNDAY: list[WeekSlot] = []

    _tz = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _not_empty(self) -> WeekSlots:
        if not any(getattr(self, day) for day in WEEKDAYS):
            raise ValueError("a week schedule needs at least one weekday with a slot")
        return self


class WeekSchedule(Model):
    week: WeekSlots


# -- Propexo's custom_sync_schedule -----------------------------------------------------------------


class WeekBasedSlot(Model):
    """One Propexo slot: `{start: "09:00", end: "17:00", sync_frequency: 45, sync_cadence: MINUTE}`."""

    start: time
    end: time
    sync_frequency: int = Field(gt=0, description="How many `sync_cadence` units between fire times.")
    sync_cadence: Literal["SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH"] = Field(
        description="Propexo's unit names; a slot takes MINUTE, HOUR, DAY or whole minutes of SECOND.")

    @model_validator(mode="after")
    def _ordered(self) -> WeekBasedSlot:
        said = f"'sync_frequency: {self.sync_frequency}, sync_cadence: {self.sync_cadence}'"
        if self.sync_cadence not in CADENCE_SECONDS:
            # A slot lies within one day: "every 2 WEEK" there has no meaning a week slot can keep.
            raise ValueError(f"slot {said}: a slot lies within one day, so WEEK and MONTH cannot be kept; "
                             "use MINUTE, HOUR or DAY, or a cron schedule for weekly or monthly runs")
        _check_window(self.start, self.end, self.every, said)
        return self

    @property
    def every(self) -> float:
        """Seconds between fire times."""
        return float(self.sync_frequency * CADENCE_SECONDS.get(self.sync_cadence, 0))


class WeekBasedDay(Model):
    slots: list[WeekBasedSlot]


class WeekBasedInterval(Model):
    MONDAY: WeekBasedDay | None = None
    TUESDAY: WeekBasedDay | None = None
    WEDNESDAY: WeekBasedDay | None = None
    THURSDAY: WeekBasedDay | None = None
    FRIDAY: WeekBasedDay | None = None
    SATURDAY: WeekBasedDay | None = None
    SUNDAY: WeekBasedDay | None = None


class WeekBasedSchedule(Model):
    """Propexo's `custom_sync_schedule`, read as the week slots it describes."""

    type: Literal["WEEK_BASED"] = Field(description="Propexo's only custom schedule type.")
    timezone: Timezone = Field(description="IANA timezone of the slots' times (Propexo offers eight US zones "
                                           "and UTC; any IANA name is accepted here).")
    interval: WeekBasedInterval

    _tz = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _not_empty(self) -> WeekBasedSchedule:
        if not any(day and day.slots for day in (getattr(self.interval, d) for d in WEEKDAYS)):
            raise ValueError("a WEEK_BASED schedule needs at least one weekday with a slot in `interval`")
        return self

    def as_week(self) -> WeekSchedule:
        """The same fire times as Rooftop's `week:` form (what schedules.py compiles)."""
        days = {day: [WeekSlot(start=s.start, end=s.end, every=s.every) for s in block.slots]
                for day in WEEKDAYS if (block := getattr(self.interval, day)) is not None}
        return WeekSchedule(week=WeekSlots(timezone=self.timezone, **days))


# -- the `schedule:` union --------------------------------------------------------------------------

_KINDS: dict[type[Model], str] = {CronSchedule: "cron", IntervalSchedule: "every", WeekSchedule: "week",
                                  WeekBasedSchedule: "week-based"}
_KEYS = (("cron", "cron"), ("every", "every"), ("week", "week"), ("type", "week-based"))


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "manual-schedule"
    if isinstance(value, list | tuple):
        return "list-schedule"
    if isinstance(value, dict):
        return next((f"{kind}-schedule" for key, kind in _KEYS if key in value), None)
    kind = _KINDS.get(type(value))
    return f"{kind}-schedule" if kind else None


_ONE_FORM = "a mapping with one of: cron, every, week, or Propexo's type: WEEK_BASED"
ScheduleEntry = Annotated[
    Annotated[CronSchedule, Tag("cron-schedule")]
    | Annotated[IntervalSchedule, Tag("every-schedule")]
    | Annotated[WeekSchedule, Tag("week-schedule")]
    | Annotated[WeekBasedSchedule, Tag("week-based-schedule")],
    Discriminator(_schedule_kind, custom_error_type="schedule",
                  custom_error_message=f"each schedule of a list must be {_ONE_FORM} "
                                       "('manual' cannot be one of several)"),
]
"""One of several schedules: any form but `manual`."""



def _several(entries: list[Any]) -> list[Any]:
    if not entries:
        raise ValueError("an empty list of schedules; write `manual` for none")
    return entries


SingleSchedule = Annotated[
    Annotated[Literal["manual"], Tag("manual-schedule")]
    | Annotated[CronSchedule, Tag("cron-schedule")]
    | Annotated[IntervalSchedule, Tag("every-schedule")]
    | Annotated[WeekSchedule, Tag("week-schedule")]
    | Annotated[WeekBasedSchedule, Tag("week-based-schedule")],
    Discriminator(_schedule_kind, custom_error_type="schedule",
                  custom_error_message=f"schedule must be 'manual' or {_ONE_FORM}"),
]
"""One schedule (a write job's `schedule:`)."""

Schedule = Annotated[
    Annotated[Literal["manual"], Tag("manual-schedule")]
    | Annotated[CronSchedule, Tag("cron-schedule")]
    | Annotated[IntervalSchedule, Tag("every-schedule")]
    | Annotated[WeekSchedule, Tag("week-schedule")]
    | Annotated[WeekBasedSchedule, Tag("week-based-schedule")]
    | Annotated[list[ScheduleEntry], AfterValidator(_several), Tag("list-schedule")],
    Discriminator(_schedule_kind, custom_error_type="schedule",
                  custom_error_message=f"schedule must be 'manual', {_ONE_FORM}, or a list of those"),
]
"""A connection's `schedule:`: one schedule, or a list of several (each runs; fire times merge)."""
