"""Schedules: YAML shapes → cron strings, and fire times that match Dagster's, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dagster._utils.schedules import schedule_execution_time_iterator
from pydantic import ValidationError
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config.models import WEEKDAYS, ConnectionConfig, WeekSchedule
from pipelines.config.schedules import (
    CompiledSchedule,
    compile_schedule,
    every_to_cron,
    next_fire_times,
    week_to_crons,
)
from tests.conftest import WorkspaceFactory

CHICAGO = ZoneInfo("America/Chicago")


def _schedule(value: object) -> object:
    return ConnectionConfig.model_validate({"name": "x", "source": {"connector": "s"}, "schedule": value}).schedule


def _fires(crons: list[str] | str, tz: str, after: datetime, n: int) -> list[str]:
    compiled = CompiledSchedule((crons,) if isinstance(crons, str) else tuple(crons), tz, "test")
    return [f"{d:%Y-%m-%d %H:%M %Z}" for d in next_fire_times(compiled, n, after=after)]


@pytest.mark.parametrize(("every", "cron"), [("1 minute", "* * * * *"), ("15 minutes", "*/15 * * * *"),
                                             ("1 hour", "0 * * * *"), ("6 hours", "0 */6 * * *"),
                                             ("1 day", "0 0 * * *")])
def test_every_compiles_to_an_exact_cron(every: str, cron: str) -> None:
    assert every_to_cron(every) == cron
    compiled = compile_schedule(_schedule({"every": every, "timezone": "Europe/Berlin"}))
    assert compiled is not None and compiled.crons == (cron,) and compiled.timezone == "Europe/Berlin"


@pytest.mark.parametrize(("every", "hint"), [("7 minutes", "does not divide an hour"),
                                             ("5 hours", "does not divide a day"),
                                             ("2 days", "longer than a day"), ("30s", "whole number of minutes")])
def test_uneven_intervals_are_rejected_with_a_cron_hint(every: str, hint: str) -> None:
    with pytest.raises(ValidationError, match=hint):
        _schedule({"every": every})


def test_bad_cron_is_a_config_error_and_manual_has_no_schedule() -> None:
    with pytest.raises(ValidationError, match="not a valid 5-field cron"):
        _schedule({"cron": "0 25 * * *"})
    assert compile_schedule(_schedule("manual")) is None
    lst = compile_schedule(_schedule({"cron": ["0 9 * * 1-5", "30 12 * * 6"], "timezone": "America/Chicago"}))
    assert lst is not None and lst.cron_schedule == ["0 9 * * 1-5", "30 12 * * 6"]


def test_week_slots_compile_to_merged_cron_strings() -> None:
    week = _schedule({"week": {
        "timezone": "America/Chicago",
        **{day: [{"start": "09:00", "end": "17:00", "every": "15 minutes"}] for day in WEEKDAYS[:5]},
        "SATURDAY": [{"start": "10:00", "end": "14:00", "every": "1 hour"}],
        "SUNDAY": [{"start": "09:10", "end": "10:30", "every": "20 minutes"}],
    }})
    assert isinstance(week, WeekSchedule)
    assert week_to_crons(week) == ["*/15 9-16 * * 1-5", "0 10-13 * * 6", "10,30,50 9 * * 0", "10 10 * * 0"]
    compiled = compile_schedule(week)
    assert compiled is not None and compiled.timezone == "America/Chicago"


WEEK = {
    "MONDAY": [{"start": "09:00", "end": "17:00", "every": "20 minutes"},
               {"start": "17:00", "end": "22:00", "every": "1 hour"}],
    "TUESDAY": [{"start": "09:10", "end": "17:05", "every": "15 minutes"}],  # not aligned to its frequency
    "WEDNESDAY": [{"start": "06:45", "end": "07:40", "every": "30 minutes"},
                  {"start": "09:30", "end": "18:00", "every": "2 hours"}],
    "THURSDAY": [{"start": "09:00", "end": "17:00", "every": "45 minutes"}],  # does not divide an hour
    "FRIDAY": [{"start": "07:20", "end": "23:00", "every": "90 minutes"},
               {"start": "23:00", "end": "23:59", "every": "7 minutes"}],
    "SATURDAY": [{"start": "00:05", "end": "23:59", "every": "3 hours"}],
    "SUNDAY": [{"start": "12:00", "end": "12:01", "every": "1 day"}],
}


@pytest.mark.parametrize("tz", ["UTC", "America/Chicago"])
def test_week_slot_fire_times_are_exactly_the_windows(tz: str) -> None:
    """Every fire time of one ordinary week equals the slots' definition, computed independently."""
    week = _schedule({"week": {"timezone": tz, **WEEK}})
    assert isinstance(week, WeekSchedule)
    compiled = compile_schedule(week)
    assert compiled is not None
    monday = datetime(2025, 6, 2, tzinfo=ZoneInfo(tz))  # a week with no DST change
    expected = []
    for offset in range(7 * 24 * 60):
        when = monday + timedelta(minutes=offset)
        for slot in getattr(week.week, WEEKDAYS[when.weekday()]):
            start, end = _minutes(slot.start), _minutes(slot.end)
            step = int(slot.every // 60)  # `every` is validated to seconds
            minute = when.hour * 60 + when.minute
            if start <= minute < end and (minute - start) % step == 0:
                expected.append(when)
    got = next_fire_times(compiled, len(expected) + 1, after=monday - timedelta(seconds=1))
    assert got[:-1] == expected
    assert got[-1] >= monday + timedelta(days=7)
    assert expected[:3] == [monday.replace(hour=9), monday.replace(hour=9, minute=20),
                            monday.replace(hour=9, minute=40)]
    tuesday = [d for d in expected if d.weekday() == 1]
    assert (tuesday[0].strftime("%H:%M"), tuesday[1].strftime("%H:%M"), tuesday[-1].strftime("%H:%M")) == \
        ("09:10", "09:25", "16:55")


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def test_week_slots_take_any_frequency_as_exact_fire_times() -> None:
    week = _schedule({"week": {"timezone": "America/Chicago",
                               "MONDAY": [{"start": "09:00", "end": "17:00", "every": "45 minutes"}],
                               "TUESDAY": [{"start": "08:00", "end": "20:00", "every": "90 minutes"}]}})
    assert isinstance(week, WeekSchedule)
    assert week_to_crons(week) == ["0,45 9,12,15 * * 1", "30 10,13,16 * * 1", "15 11,14 * * 1",
                                   "0 8,11,14,17 * * 2", "30 9,12,15,18 * * 2"]
    compiled = compile_schedule(week)
    assert compiled is not None
    monday = next_fire_times(compiled, 11, after=datetime(2025, 6, 2, tzinfo=CHICAGO))
    assert [f"{d:%a %H:%M}" for d in monday] == [
        "Mon 09:00", "Mon 09:45", "Mon 10:30", "Mon 11:15", "Mon 12:00", "Mon 12:45", "Mon 13:30",
        "Mon 14:15", "Mon 15:00", "Mon 15:45", "Mon 16:30"]
    assert f"{next_fire_times(compiled, 1, after=monday[-1])[0]:%a %H:%M}" == "Tue 08:00"
    with pytest.raises(ValidationError, match="whole number of minutes"):
        _schedule({"week": {"MONDAY": [{"start": "09:00", "end": "10:00", "every": "90s"}]}})


@pytest.mark.parametrize(("sunday", "expected"), [
    # Spring forward, 02:00 CST → 03:00 CDT: 02:15 does not exist and fires at the end of the gap,
    # which is 03:00, itself a fire time: one run there, never two.
    (datetime(2025, 3, 9, tzinfo=CHICAGO),
     ["00:00 CST", "00:45 CST", "01:30 CST", "03:00 CDT", "03:45 CDT", "04:30 CDT", "05:15 CDT"]),
    # Fall back, 02:00 CDT → 01:00 CST: 01:30 happens twice and fires once (standard time).
    (datetime(2025, 11, 2, tzinfo=CHICAGO),
     ["00:00 CDT", "00:45 CDT", "01:30 CST", "02:15 CST", "03:00 CST", "03:45 CST", "04:30 CST", "05:15 CST"]),
])
def test_a_45_minute_slot_keeps_its_wall_clock_times_across_dst(sunday: datetime, expected: list[str]) -> None:
    week = _schedule({"week": {"timezone": "America/Chicago",
                               "SUNDAY": [{"start": "00:00", "end": "06:00", "every": "45 minutes"}]}})
    compiled = compile_schedule(week)
    assert compiled is not None
    after = sunday - timedelta(seconds=1)
    fires = next_fire_times(compiled, len(expected) + 1, after=after)
    assert [f"{d:%H:%M %Z}" for d in fires[:-1]] == expected
    assert fires[-1] >= sunday + timedelta(days=7)  # nothing else that day, next the following Sunday
    # The same wall-clock times as an ordinary Sunday, less the one the clock skipped.
    ordinary = next_fire_times(compiled, 8, after=datetime(2025, 6, 8, tzinfo=CHICAGO) - timedelta(seconds=1))
    assert {d[:5] for d in expected} <= {f"{d:%H:%M}" for d in ordinary}
    # And what Dagster's scheduler does with the compiled list.
    theirs = schedule_execution_time_iterator(after.timestamp(), compiled.cron_schedule, compiled.timezone)
    assert [d.timestamp() for d in fires] == [next(theirs).timestamp() for _ in fires]


def test_dst_spring_forward_in_chicago() -> None:
    # 2025-03-09 02:00 CST → 03:00 CDT: a daily 02:30 run moves to 03:00, an hourly run skips the gap.
    after = datetime(2025, 3, 7, 12, 0, tzinfo=CHICAGO)
    assert _fires("30 2 * * *", "America/Chicago", after, 3) == [
        "2025-03-08 02:30 CST", "2025-03-09 03:00 CDT", "2025-03-10 02:30 CDT"]
    assert _fires("0 * * * *", "America/Chicago", datetime(2025, 3, 9, 0, 30, tzinfo=CHICAGO), 3) == [
        "2025-03-09 01:00 CST", "2025-03-09 03:00 CDT", "2025-03-09 04:00 CDT"]


def test_dst_fall_back_in_chicago() -> None:
    # 2025-11-02 02:00 CDT → 01:00 CST: 01:30 happens twice. A daily run fires once (standard
    # time), an every-30-minutes run fires at both 01:30s, a week slot only once per wall time.
    after = datetime(2025, 11, 1, 12, 0, tzinfo=CHICAGO)
    assert _fires("30 1 * * *", "America/Chicago", after, 3) == [
        "2025-11-02 01:30 CST", "2025-11-03 01:30 CST", "2025-11-04 01:30 CST"]
    night = datetime(2025, 11, 2, 0, 45, tzinfo=CHICAGO)
    assert _fires("*/30 * * * *", "America/Chicago", night, 5) == [
        "2025-11-02 01:00 CDT", "2025-11-02 01:30 CDT", "2025-11-02 01:00 CST", "2025-11-02 01:30 CST",
        "2025-11-02 02:00 CST"]
    week = _schedule({"week": {"timezone": "America/Chicago",
                               "SUNDAY": [{"start": "01:00", "end": "03:00", "every": "30 minutes"}]}})
    compiled = compile_schedule(week)
    assert compiled is not None
    assert [f"{d:%H:%M %Z}" for d in next_fire_times(compiled, 4, after=night)] == [
        "01:00 CST", "01:30 CST", "02:00 CST", "02:30 CST"]


@pytest.mark.parametrize("tz", ["America/Chicago", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"])
def test_fire_times_agree_with_dagsters_scheduler(tz: str) -> None:
    """What `rooftop schedule` prints is what the Dagster daemon does, DST nights included."""
    crons = ["30 2 * * *", "0 * * * *", "*/30 1-3 * * *", "15 1,2 * * 0", "*/20 * * * *", "0 */2 * * *",
             "10,25,40,55 0-4 * * 0", "45 1 * * *"]
    zone = ZoneInfo(tz)
    for cron in crons:
        for start in (datetime(2025, 3, 8, 20, 0, 30, tzinfo=zone), datetime(2025, 11, 1, 20, 0, 30, tzinfo=zone),
                      datetime(2025, 3, 29, 20, 0, 30, tzinfo=zone), datetime(2025, 10, 25, 20, 0, 30, tzinfo=zone),
                      datetime(2025, 4, 5, 20, 0, 30, tzinfo=zone), datetime(2025, 10, 4, 20, 0, 30, tzinfo=zone)):
            ours = next_fire_times(CompiledSchedule((cron,), tz, "t"), 30, after=start)
            theirs = schedule_execution_time_iterator(start.timestamp(), cron, tz)
            assert [d.timestamp() for d in ours] == [next(theirs).timestamp() for _ in ours], (cron, start)


def test_schedule_command_prints_fire_times_in_the_connection_timezone(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace("""\
        name: nightly
        source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}"}}
        schedule: {cron: "30 1 * * *", timezone: America/Chicago}
        """, name="nightly")
    (root / "connections" / "adhoc.yaml").write_text(
        'name: adhoc\nactive: false\nsource: {connector: sandbox, config: {api_key: "k-1234"}}\n')
    result = CliRunner().invoke(app, ["--workspace", str(root), "schedule", "nightly", "-n", "3",
                                      "--after", "2025-11-01T12:00"])
    assert result.exit_code == 0, result.output
    assert "cron in America/Chicago" in result.output
    for line in ("Sun 2025-11-02 01:30 CST", "Mon 2025-11-03 01:30 CST", "Tue 2025-11-04 01:30 CST"):
        assert line in result.output
    assert "2025-11-02 07:30" in result.output  # the UTC column: 01:30 CST, after the clocks went back
    manual = CliRunner().invoke(app, ["--workspace", str(root), "schedule", "adhoc"])
    assert manual.exit_code == 0 and "manual" in manual.output
    now = datetime.now(UTC)
    default = CliRunner().invoke(app, ["--workspace", str(root), "schedule", "nightly"])
    assert default.exit_code == 0 and default.output.count(" CST") + default.output.count(" CDT") == 10
    assert str(now.year) in default.output or str(now.year + 1) in default.output
