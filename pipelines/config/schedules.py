"""Connection schedules as cron strings, and their next fire times: no Dagster needed.

The YAML offers five shapes (`cron`, `every`, `week` slots, Propexo's `WEEK_BASED` slots, `manual`)
and lists of them; Dagster understands one: cron strings (a list allowed) with an IANA
`execution_timezone`. This module compiles the first into the second (a list: one cron list per
timezone, `merge_by_timezone`), so the Dagster wiring and `rooftop schedule` agree by construction, and it
computes fire times with the same daylight-saving rules as Dagster's scheduler, so what the CLI
prints is what the daemon will do:

- a wall-clock time skipped by a spring-forward transition fires at the end of the gap (02:30 on
  the skipped night runs at 03:00), except for schedules whose hour field is `*`, which simply
  skip it (they fire again within the hour anyway);
- a wall-clock time that happens twice in a fall-back transition fires once, at its second
  (standard time) occurrence, except for `*`-hour schedules, which fire at both.

`week:` slots are half-open windows: `{start: "09:00", end: "17:00", every: 20 minutes}` fires at
09:00, 09:20, … 16:40, never at 17:00, so back-to-back windows never fire twice at their seam.
Fire times count from `start`, so a window not aligned to its frequency (09:10 every 15 minutes)
fires at 09:10, 09:25, 09:40, 09:55, 10:10, … A slot's `every` need not divide the hour: 09:00-17:00
every 45 minutes lists its exact times per hour (`0,45 9,12,15`, `30 10,13,16`, `15 11,14`).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.config.schedule_models import (
    WEEKDAYS,
    CronSchedule,
    IntervalSchedule,
    WeekBasedSchedule,
    WeekSchedule,
    WeekSlot,
)
from protocol.durations import format_duration, parse_duration

CRON_WEEKDAY = {day: (index + 1) % 7 for index, day in enumerate(WEEKDAYS)}
"""MONDAY → 1 … SATURDAY → 6, SUNDAY → 0 (cron's numbering)."""
_LOOKAHEAD = timedelta(hours=3)
"""Longer than any DST shift: candidates further apart in wall time cannot swap order in real time."""


@dataclass(frozen=True)
class CompiledSchedule:
    """What Dagster gets: one or more cron strings evaluated in `timezone`."""

    crons: tuple[str, ...]
    timezone: str
    source: str
    """How the YAML said it, for humans (`every 15 minutes`, `week slots`, `cron`)."""

    @property
    def cron_schedule(self) -> str | list[str]:
        """Dagster's `cron_schedule` argument: a plain string when there is only one."""
        return self.crons[0] if len(self.crons) == 1 else list(self.crons)


def compile_schedule(schedule: object) -> CompiledSchedule | None:
    """The cron strings and timezone of one schedule form; None for `manual`."""
    if schedule == "manual":
        return None
    if isinstance(schedule, CronSchedule):
        crons = (schedule.cron,) if isinstance(schedule.cron, str) else tuple(schedule.cron)
        return CompiledSchedule(crons, schedule.timezone, "cron")
    if isinstance(schedule, IntervalSchedule):
        return CompiledSchedule((every_to_cron(schedule.every),), schedule.timezone,
                                f"every {format_duration(schedule.every)}")
    if isinstance(schedule, WeekSchedule):
        return CompiledSchedule(tuple(week_to_crons(schedule)), schedule.week.timezone, "week slots")
    if isinstance(schedule, WeekBasedSchedule):
        return CompiledSchedule(tuple(week_to_crons(schedule.as_week())), schedule.timezone, "WEEK_BASED slots")
    raise TypeError(f"not a schedule: {schedule!r}")


def compile_schedules(schedule: object) -> list[CompiledSchedule]:
    """Every schedule of a connection's `schedule:` (a list gives several), in the file's order."""
    entries = schedule if isinstance(schedule, list | tuple) else [schedule]
    return [compiled for entry in entries if (compiled := compile_schedule(entry)) is not None]


def merge_by_timezone(schedules: Sequence[CompiledSchedule]) -> list[CompiledSchedule]:
    """What Dagster runs: one cron list per timezone, in the order each timezone first appears.

    Dagster evaluates a cron list as one schedule that fires once per instant however many of its
    strings name it, so schedules that share a timezone never start two runs at the same moment.
    A cron list has one timezone, so schedules in different timezones stay separate.
    """
    by_zone: dict[str, list[CompiledSchedule]] = {}
    for compiled in schedules:
        by_zone.setdefault(compiled.timezone, []).append(compiled)
    return [CompiledSchedule(tuple(dict.fromkeys(cron for c in group for cron in c.crons)), zone,
                             " + ".join(dict.fromkeys(c.source for c in group)))
            for zone, group in by_zone.items()]


def run_schedules(schedule: object) -> list[CompiledSchedule]:
    """The schedules Dagster runs for a connection's `schedule:` (one per timezone), in order."""
    return merge_by_timezone(compile_schedules(schedule))


def schedule_name(connection: str, timezone: str | None = None) -> str:
    """The Dagster schedule's name: `<conn>_schedule` for the first, `<conn>_schedule_<timezone>` for others.

    The first keeps the name a connection with one schedule always had, so Dagster's record of it
    (started or stopped in the UI, its ticks) survives adding a second schedule.
    """
    if timezone is None:
        return f"{connection}_schedule"
    return f"{connection}_schedule_{re.sub(r'[^a-z0-9]+', '_', timezone.lower()).strip('_')}"


def schedule_names(connection: str, schedules: Sequence[CompiledSchedule]) -> list[str]:
    """`schedule_name` of each of `run_schedules`' results."""
    return [schedule_name(connection, None if i == 0 else c.timezone) for i, c in enumerate(schedules)]


def every_to_cron(every: str | float) -> str:
    """`15 minutes` → `*/15 * * * *`; `2 hours` → `0 */2 * * *`; `1 day` → `0 0 * * *`.

    The config model already rejected intervals that do not divide their unit, which is what makes
    a cron expression with a step exact (no short interval at the top of the hour or day).
    """
    minutes = int(parse_duration(every) // 60)
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes < 1440:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if minutes == 1440:
        return "0 0 * * *"
    raise ValueError(f"every {every}: only intervals up to 1 day compile to cron; use a cron schedule")


def week_to_crons(schedule: WeekSchedule) -> list[str]:
    """One cron string per distinct (minutes, hours) pattern, weekdays that share it merged."""
    patterns: dict[tuple[str, str], set[int]] = {}
    for day in WEEKDAYS:
        for slot in getattr(schedule.week, day):
            for minutes, hours in _slot_patterns(slot):
                patterns.setdefault((minutes, hours), set()).add(CRON_WEEKDAY[day])
    # Insertion order is the order of first firing, Monday to Sunday: the list reads like the YAML.
    return [f"{minutes} {hours} * * {_cron_list(sorted(days))}" for (minutes, hours), days in patterns.items()]


def _slot_patterns(slot: WeekSlot) -> list[tuple[str, str]]:
    """The slot's fire times (start, start+every, … < end) as (minute field, hour field) pairs."""
    step = int(parse_duration(slot.every) // 60)
    first = slot.start.hour * 60 + slot.start.minute
    end = slot.end.hour * 60 + slot.end.minute
    by_hour: dict[int, list[int]] = {}
    for t in range(first, end, step):
        by_hour.setdefault(t // 60, []).append(t % 60)
    hours_by_minutes: dict[tuple[int, ...], list[int]] = {}
    for hour, minutes in by_hour.items():
        hours_by_minutes.setdefault(tuple(minutes), []).append(hour)
    return [(_minute_field(minutes), _cron_list(hours)) for minutes, hours in hours_by_minutes.items()]


def _minute_field(minutes: Sequence[int]) -> str:
    step = minutes[1] - minutes[0] if len(minutes) > 1 else 0
    # `*/45` would mean 0,45 too, but reads as "every 45 minutes", which a 45-minute slot is not
    # across hours: the step form only where it divides the hour.
    if minutes[0] == 0 and step and 60 % step == 0 and list(minutes) == list(range(0, 60, step)):
        return f"*/{step}"
    return ",".join(str(m) for m in minutes)


def _cron_list(values: Sequence[int]) -> str:
    """[1, 2, 3, 5] → `1-3,5`: runs of three or more consecutive values become ranges."""
    parts: list[str] = []
    run: list[int] = []
    for value in [*values, None]:
        if run and (value is None or value != run[-1] + 1):
            parts.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)))
            run = []
        if value is not None:
            run.append(value)
    return ",".join(parts)


# -- fire times ---------------------------------------------------------------------------------


def next_fire_times(compiled: CompiledSchedule | Sequence[CompiledSchedule], count: int,
                    after: datetime | None = None) -> list[datetime]:
    """The next `count` fire times strictly after `after` (default: now) of one or several schedules.

    Each time is in its own schedule's timezone; an instant named by several schedules fires once.
    """
    schedules = [compiled] if isinstance(compiled, CompiledSchedule) else list(compiled)
    now = after or datetime.now(UTC)
    merged = heapq.merge(*(cron_fire_times(cron, ZoneInfo(c.timezone), now.astimezone(ZoneInfo(c.timezone)))
                           for c in schedules for cron in c.crons),
                         key=lambda d: d.timestamp())
    out: list[datetime] = []
    for when in merged:
        if out and when.timestamp() == out[-1].timestamp():
            continue  # two cron strings may name the same instant: it fires once
        out.append(when)
        if len(out) == count:
            break
    return out


def cron_fire_times(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Fire times of one cron string in `zone`, strictly after `after`, in real-time order.

    croniter is only trusted on naive wall-clock times; each wall-clock match is then placed in
    the zone with Dagster's daylight-saving rules (see the module docstring). A small heap
    restores real-time order where a fall-back transition makes wall time run backwards.
    """
    from croniter import croniter  # only where fire times are computed: schedule_models is imported by every load

    every_hour = croniter.expand(cron)[0][1] == ["*"]  # hour field `*` (or 0-23): Dagster's "hourly" rules
    naive_start = after.astimezone(zone).replace(tzinfo=None) - _LOOKAHEAD
    wall = croniter(cron, naive_start)
    pending: list[tuple[float, datetime]] = []
    last = after.timestamp()
    while True:
        candidate: datetime = wall.get_next(datetime)
        for when in _place(candidate, zone, every_hour):
            heapq.heappush(pending, (when.timestamp(), when))
        horizon = candidate.replace(tzinfo=zone).timestamp() - _LOOKAHEAD.total_seconds()
        while pending and pending[0][0] <= horizon:
            stamp, when = heapq.heappop(pending)
            if stamp > last:
                last = stamp
                yield when


def _place(naive: datetime, zone: ZoneInfo, every_hour: bool) -> list[datetime]:
    """The real instants a wall-clock cron match fires at: none, one, or two (see module docstring)."""
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    if _round_trips(early) and _round_trips(late):
        if early.utcoffset() == late.utcoffset():
            return [early]
        return [early, late] if every_hour else [late]  # an ambiguous (repeated) wall time
    if every_hour:
        return []  # skipped by spring-forward
    shift = (late.utcoffset() or timedelta()) - (early.utcoffset() or timedelta())
    gap_end = (naive.replace(minute=0, second=0, microsecond=0) + abs(shift)).replace(tzinfo=zone)
    return [gap_end]


def _round_trips(local: datetime) -> bool:
    """False for a wall time that does not exist in its zone (inside a spring-forward gap)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)
