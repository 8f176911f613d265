"""Schedules as the seeds write them: Propexo's WEEK_BASED form, several schedules, New York DST, pauses.

Each shape is checked where a user meets it: the file's errors (file:line: field), the cron lists
Dagster gets (names, timezones, default status), Dagster's own fire-time iterator, `rooftop
schedule` and the API's `GET .../schedule`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from dagster import DefaultScheduleStatus, build_schedule_context
from dagster._utils.schedules import schedule_execution_time_iterator

from pipelines.config.models import ConnectionConfig, WeekBasedSchedule, WeekSchedule
from pipelines.config.schedules import (
    compile_schedule,
    next_fire_times,
    run_schedules,
    week_to_crons,
)
from pipelines.dagster.build import build_definitions
from tests.conftest import WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop

NEW_YORK = ZoneInfo("America/New_York")
SOURCE = 'source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}"}}\n'


def _schedule(value: object) -> Any:
    return ConnectionConfig.model_validate({"name": "x", "source": {"connector": "s"}, "schedule": value}).schedule


def _slot(start: str, end: str, frequency: int, cadence: str) -> dict[str, Any]:
    return {"start": start, "end": end, "sync_frequency": frequency, "sync_cadence": cadence}


def _week_based(tz: str = "America/New_York", **days: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "WEEK_BASED", "timezone": tz, "interval": {day: {"slots": slots} for day, slots in days.items()}}


def test_a_week_based_schedule_is_the_same_week_slots() -> None:
    propexo = _schedule(_week_based(
        MONDAY=[_slot("09:00", "17:00", 45, "MINUTE")], TUESDAY=[_slot("08:00", "20:00", 90, "MINUTE")],
        WEDNESDAY=[_slot("06:00", "18:00", 2, "HOUR"), _slot("20:00", "22:00", 1800, "SECOND")],
        THURSDAY=[_slot("10:00", "10:30", 1, "DAY")], SATURDAY=[]))
    week = _schedule({"week": {"timezone": "America/New_York",
                               "MONDAY": [{"start": "09:00", "end": "17:00", "every": "45 minutes"}],
                               "TUESDAY": [{"start": "08:00", "end": "20:00", "every": "90 minutes"}],
                               "WEDNESDAY": [{"start": "06:00", "end": "18:00", "every": "2 hours"},
                                             {"start": "20:00", "end": "22:00", "every": "30 minutes"}],
                               "THURSDAY": [{"start": "10:00", "end": "10:30", "every": "1 day"}]}})
    assert isinstance(propexo, WeekBasedSchedule) and isinstance(week, WeekSchedule)
    ours = compile_schedule(propexo)
    assert ours is not None and ours.timezone == "America/New_York" and ours.source == "WEEK_BASED slots"
    assert list(ours.crons) == week_to_crons(week)
    assert list(ours.crons)[:3] == ["0,45 9,12,15 * * 1", "30 10,13,16 * * 1", "15 11,14 * * 1"]
    assert "0 10 * * 4" in ours.crons  # once a day in a half-hour window: at its start


def test_week_based_mistakes_name_the_file_line_and_field(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace("""\
        name: acme
        source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}"}}
        schedule:
          type: WEEK_BASED
          timezone: America/New_York
          interval:
            MONDAY:
              slots:
                - {start: "09:00", end: "17:00", sync_frequency: 45, sync_cadence: MINUTES}
                - {start: "18:00", end: "17:00", sync_frequency: 1, sync_cadence: HOUR}
            TUESDAY:
              slots:
                - {start: "09:00", end: "17:00", sync_frequency: 1, sync_cadence: WEEK}
                - {start: "09:00", end: "17:00", sync_frequency: 90, sync_cadence: SECOND}
            FRIDAY: {slot: []}
        """, name="acme")
    code, out = rooftop(root, "validate", "--offline")
    assert code == 2, out
    for problem in (
            "connections/acme.yaml:9: schedule.interval.MONDAY.slots[0].sync_cadence: must be one of 'SECOND', "
            "'MINUTE', 'HOUR', 'DAY', 'WEEK' or 'MONTH' (got 'MINUTES')",
            "connections/acme.yaml:10: schedule.interval.MONDAY.slots[1]: slot end 17:00 must be after start 18:00",
            "connections/acme.yaml:13: schedule.interval.TUESDAY.slots[0]: slot 'sync_frequency: 1, sync_cadence: "
            "WEEK': a slot lies within one day",
            "connections/acme.yaml:14: schedule.interval.TUESDAY.slots[1]: slot 'sync_frequency: 90, sync_cadence: "
            "SECOND' must be a whole number of minutes",
            "connections/acme.yaml:15: schedule.interval.FRIDAY.slots: this required key is missing"):
        assert problem in out, out


@pytest.mark.parametrize(("form", "message"), [
    ([], "schedule: an empty list of schedules; write `manual` for none"),
    ([{"cron": "0 2 * * *"}, "manual"], "schedule[1]: each schedule of a list must be a mapping with one of"),
    ({"type": "WEEK_BASED", "interval": {"MONDAY": {"slots": [_slot("09:00", "10:00", 1, "HOUR")]}}},
     "schedule.timezone: this required key is missing"),
    ({"type": "WEEK_BASED", "timezone": "UTC", "interval": {"MONDAY": {"slots": []}}},
     "schedule: a WEEK_BASED schedule needs at least one weekday with a slot"),
    ({"type": "DAILY", "timezone": "UTC", "interval": {}}, "schedule.type: must be one of 'WEEK_BASED'"),
])
def test_bad_schedule_lists_and_forms_are_refused(make_workspace: WorkspaceFactory, form: object,
                                                  message: str) -> None:

    root = make_workspace(f"name: acme\n{SOURCE}schedule: {json.dumps(form)}\n", name="acme")
    code, out = rooftop(root, "validate", "--offline")
    assert code == 2 and f"connections/acme.yaml:3: {message}" in out, out


# Spring forward in New York, 2025-03-09 02:00 EST → 03:00 EDT; fall back 2025-11-02 02:00 EDT → 01:00 EST.
@pytest.mark.parametrize(("sunday", "minutes", "expected"), [
    (datetime(2025, 3, 9, tzinfo=NEW_YORK), 45,  # 02:15 does not exist: the end of the gap, 03:00, once
     ["00:00 EST", "00:45 EST", "01:30 EST", "03:00 EDT", "03:45 EDT", "04:30 EDT", "05:15 EDT"]),
    (datetime(2025, 3, 9, tzinfo=NEW_YORK), 90,
     ["00:00 EST", "01:30 EST", "03:00 EDT", "04:30 EDT"]),
    (datetime(2025, 11, 2, tzinfo=NEW_YORK), 45,  # 01:30 happens twice: it fires once, in standard time
     ["00:00 EDT", "00:45 EDT", "01:30 EST", "02:15 EST", "03:00 EST", "03:45 EST", "04:30 EST", "05:15 EST"]),
    (datetime(2025, 11, 2, tzinfo=NEW_YORK), 90,
     ["00:00 EDT", "01:30 EST", "03:00 EST", "04:30 EST"]),
])
def test_week_based_slots_across_new_york_dst(sunday: datetime, minutes: int, expected: list[str]) -> None:
    compiled = compile_schedule(_schedule(_week_based(SUNDAY=[_slot("00:00", "06:00", minutes, "MINUTE")])))
    assert compiled is not None
    after = sunday - timedelta(seconds=1)
    fires = next_fire_times(compiled, len(expected) + 1, after=after)
    assert [f"{d:%H:%M %Z}" for d in fires[:-1]] == expected
    assert fires[-1] >= sunday + timedelta(days=7)  # nothing else that Sunday
    theirs = schedule_execution_time_iterator(after.timestamp(), compiled.cron_schedule, compiled.timezone)
    assert [d.timestamp() for d in fires] == [next(theirs).timestamp() for _ in fires]


SEVERAL = [
    {"cron": "0 2 * * *", "timezone": "UTC"},
    _week_based(MONDAY=[_slot("09:00", "12:00", 90, "MINUTE")]),
    {"every": "6 hours", "timezone": "UTC"},
    {"week": {"timezone": "America/New_York", "MONDAY": [{"start": "10:30", "end": "11:00", "every": "30 minutes"}]}},
]


def test_several_schedules_compile_to_one_cron_list_per_timezone() -> None:
    utc, new_york = run_schedules(_schedule(SEVERAL))
    assert (utc.timezone, utc.crons, utc.source) == ("UTC", ("0 2 * * *", "0 */6 * * *"), "cron + every 6 hours")
    # 10:30 is named by both New York schedules: one cron string, and Dagster fires a list once per instant.
    assert (new_york.timezone, new_york.crons) == ("America/New_York", ("0 9 * * 1", "30 10 * * 1"))
    fires = next_fire_times([utc, new_york], 7, after=datetime(2025, 6, 2, tzinfo=UTC))  # a Monday
    assert [f"{d:%H:%M %Z}" for d in fires] == [  # each in its own timezone, in real-time order
        "02:00 UTC", "06:00 UTC", "12:00 UTC", "09:00 EDT", "10:30 EDT", "18:00 UTC", "00:00 UTC"]


def test_dagster_gets_one_schedule_per_timezone_and_stops_them_all_when_paused(
        make_workspace: WorkspaceFactory) -> None:

    root = make_workspace(f"name: acme\n{SOURCE}schedule: {json.dumps(SEVERAL)}\n", name="acme")
    (root / "connections" / "held.yaml").write_text(f"name: held\nactive: false\nprefix: held_\n{SOURCE}"
                                                    f"schedule: {json.dumps(SEVERAL)}\n")
    defs = build_definitions(root)
    first, second = defs.resolve_schedule_def("acme_schedule"), defs.resolve_schedule_def(
        "acme_schedule_america_new_york")
    assert (first.cron_schedule, first.execution_timezone) == (["0 2 * * *", "0 */6 * * *"], "UTC")
    assert (second.cron_schedule, second.execution_timezone) == (["0 9 * * 1", "30 10 * * 1"], "America/New_York")
    assert first.default_status == second.default_status == DefaultScheduleStatus.RUNNING
    held = [defs.resolve_schedule_def(n) for n in ("held_schedule", "held_schedule_america_new_york")]
    assert [s.default_status for s in held] == [DefaultScheduleStatus.STOPPED] * 2
    assert all("Paused in YAML (active: false)" in (s.description or "") for s in held)
    # Started in the UI anyway (stored state beats the default): each tick is skipped with the reason.
    ticks = [s.evaluate_tick(build_schedule_context(scheduled_execution_time=datetime(2025, 6, 2, 2, tzinfo=UTC)))
             for s in held]
    assert [t.skip_message for t in ticks] == ["connection 'held' is paused (active: false in "
                                               "connections/held.yaml)"] * 2
    assert all(not t.run_requests for t in ticks)
    running = first.evaluate_tick(build_schedule_context(scheduled_execution_time=datetime(2025, 6, 2, 2, tzinfo=UTC)))
    assert running.skip_message is None and len(running.run_requests or []) == 1


def test_rooftop_schedule_shows_every_schedule_and_says_when_paused(make_workspace: WorkspaceFactory) -> None:

    root = make_workspace(f"name: acme\nactive: false\n{SOURCE}schedule: {json.dumps(SEVERAL)}\n", name="acme")
    code, out = rooftop(root, "schedule", "acme", "-n", "5", "--after", "2025-06-02T00:00")  # UTC: the first's
    assert code == 0, out
    words = " ".join(out.split())  # Rich wraps long lines at the terminal's width (80 columns in CI)
    assert "acme is paused (active: false): its schedules are off" in words, out
    assert "acme: cron + every 6 hours in UTC (acme_schedule)" in words, out
    assert "acme: WEEK_BASED slots + week slots in America/New_York (acme_schedule_america_new_york)" in words, out
    for line in ("Mon 2025-06-02 02:00 UTC", "Mon 2025-06-02 06:00 UTC", "Mon 2025-06-02 09:00 EDT",
                 "Mon 2025-06-02 10:30 EDT"):
        assert line in out, out
    code, out = rooftop(root, "sync", "acme")
    assert code == 2 and "connection 'acme' is paused (active: false)" in out, out


def test_the_api_puts_several_schedules_and_lists_their_fire_times(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(f"name: acme\n{SOURCE}schedule: {{cron: '0 6 * * *'}}\n", name="acme")
    with (root / ".env").open("a") as env:
        env.write("ROOFTOP_API_TOKENS=write=w-token-81f2,read=r-token-4c9d\n")
    with running_api(root) as url, httpx.Client(base_url=url, timeout=30) as http:
        reply = http.put("/v1/connections/acme", json={"schedule": SEVERAL},
                         headers={"Authorization": "Bearer w-token-81f2"})
        assert reply.status_code == 200, reply.text
        got = http.get("/v1/connections/acme/schedule", params={"count": 5},
                       headers={"Authorization": "Bearer r-token-4c9d"}).json()
    assert [(s["dagster_schedule"], s["timezone"]) for s in got["schedules"]] == [
        ("acme_schedule", "UTC"), ("acme_schedule_america_new_york", "America/New_York")]
    assert (got["schedule"], got["crons"]) == ("cron + every 6 hours", ["0 2 * * *", "0 */6 * * *"])
    assert len(got["next"]) == 5 and len(set(got["next"])) == 5
    assert [s.timezone for s in run_schedules(_schedule(SEVERAL))] == ["UTC", "America/New_York"]
    assert "type: WEEK_BASED" in (root / "connections" / "acme.yaml").read_text()
