"""Date-range windows, Entrata style: MM/DD/YYYY bounds in Mountain Time, 30 days at a time, each checkpointed.

A real server on 127.0.0.1 answers `fromDate`/`toDate` (inclusive days, as the vendor reads them)
with the records posted in that range; its request log and the DuckDB warehouse are the proof. A
failure in window 3 leaves windows 1 and 2 committed, and the next sync starts at window 3.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from connectors.rest_api.config import StreamSpec
from connectors.rest_api.windows import sample_window
from pipelines.engine.runner import run_sync
from protocol.errors import SyncFailed
from tests.conftest import WorkspaceFactory, connection
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

DENVER = ZoneInfo("America/Denver")
DAYS = 100
"""The stream starts this many days ago: windows of 30 days make 4 windows (30, 30, 30, 10)."""


class Entrata:
    """GET /leases?fromDate=01/31/2024&toDate=03/01/2024 → the leases updated on those days (Mountain Time)."""

    def __init__(self, start: date) -> None:
        self.leases = [{"leaseId": i, "updatedOn": f"{start + timedelta(days=i):%Y-%m-%d}T09:15:00"}
                       for i in range(0, DAYS, 5)]
        self.fail_from: str | None = None

    def __call__(self, request: Request) -> Reply:
        low = datetime.strptime(request.query["fromDate"], "%m/%d/%Y").date()
        high = datetime.strptime(request.query["toDate"], "%m/%d/%Y").date()
        if request.query["fromDate"] == self.fail_from:
            return Reply(status=400, body={"message": "simulated failure"})
        found = [x for x in self.leases if low <= date.fromisoformat(x["updatedOn"][:10]) < high]
        return Reply(body={"response": {"result": {"leases": found}}})


CONN = """\
name: entrata
source:
  connector: rest_api
  config:
    base_url: "{url}"
    timezone: America/Denver
    records: response.result.leases
    streams:
      - name: leases
        path: /leases
        primary_key: leaseId
        incremental: {{cursor_field: updatedOn}}
        windows: {{size: 30 days, start_param: fromDate, end_param: toDate, format: "%m/%d/%Y"}}
destination: {{connector: duckdb, config: {{path: wh.duckdb, commit_every_rows: 1}}}}
streams: [{{name: leases, sync_mode: incremental_append, start_date: "{start}"}}]
"""


def ids(root: Path) -> list[int]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return [r[0] for r in con.execute("select leaseId from rest_api.leases order by 1").fetchall()]


def test_windows_walk_to_now_and_a_failure_keeps_the_windows_before_it(make_workspace: WorkspaceFactory) -> None:
    start = datetime.now(DENVER).date() - timedelta(days=DAYS)
    bounds = [start + timedelta(days=30 * n) for n in range(4)]
    vendor = Entrata(start)
    vendor.fail_from = f"{bounds[2]:%m/%d/%Y}"  # window 3 fails
    with TestApi(vendor) as api:
        root = make_workspace(CONN.format(url=api.url, start=start.isoformat()), name="entrata")
        with pytest.raises(SyncFailed):
            run_sync(connection(root, "entrata"))
        first = [r.query["fromDate"] for r in api.requests]
        # Windows 1 and 2 are committed: their leases are in the table, window 3's are not.
        assert ids(root) == [x["leaseId"] for x in vendor.leases if date.fromisoformat(x["updatedOn"][:10]) < bounds[2]]
        vendor.fail_from = None
        seen = len(api.requests)
        run_sync(connection(root, "entrata"))
        second: list[dict[str, Any]] = [r.query for r in api.requests[seen:]]
    # Discovery samples the latest window once (its schema is cached for the next sync), then one
    # request per window, stopped at window 3.
    sample = datetime.now(DENVER) - timedelta(days=30)
    assert first == [f"{sample:%m/%d/%Y}", *(f"{b:%m/%d/%Y}" for b in bounds[:3])]
    # The next sync resumes at window 3: two requests (windows 3 and 4), none for windows 1 and 2.
    assert [q["fromDate"] for q in second] == [f"{b:%m/%d/%Y}" for b in bounds[2:]]
    assert [q["toDate"] for q in second] == [f"{bounds[3]:%m/%d/%Y}", f"{datetime.now(DENVER):%m/%d/%Y}"]
    assert ids(root) == [x["leaseId"] for x in vendor.leases]  # every lease once
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        stored = con.execute("select updatedOn from rest_api.leases where leaseId = 0").fetchone()
    assert stored is not None  # 09:15 in Denver, stored as UTC
    assert stored[0].astimezone(UTC) == datetime.combine(start, datetime.min.time().replace(hour=9, minute=15),
                                                         DENVER).astimezone(UTC)


@pytest.mark.parametrize(("now", "from_date"), [
    (datetime(2026, 11, 30, 6, 30, tzinfo=UTC), "10/30/2026"),  # 23:30 on Nov 29 in Denver; DST ended Nov 1
    (datetime(2026, 3, 20, 6, 30, tzinfo=UTC), "02/18/2026"),  # 00:30 on Mar 20; DST began Mar 8
])
def test_the_schema_sample_window_counts_days_on_the_sources_wall_clock(now: datetime, from_date: str) -> None:
    """Discovery samples the latest window counted as the walk counts: 30 days back on the source's wall
    clock. Counted in UTC instead, a DST change moved its start an hour, near midnight to another day."""
    spec = StreamSpec.model_validate({"name": "leases", "path": "/leases", "windows": {
        "size": "30 days", "start_param": "fromDate", "end_param": "toDate", "format": "%m/%d/%Y"}})
    params, _values = sample_window(spec, DENVER, now)
    assert params == {"fromDate": from_date, "toDate": f"{now.astimezone(DENVER):%m/%d/%Y}"}
