"""Cursors the way vendors want them: inside a filter expression, in local time, or as a sync-time watermark.

Real vendor-shaped servers on 127.0.0.1 filter by the parameters they receive, as the vendor would;
the warehouse (DuckDB) and the servers' request logs are the proof:

- Rent Manager: `filters=UpdateDate,gt,<cursor>`, naive timestamps in the property manager's zone
  (America/Denver): the second sync asks with the saved cursor in local time and appends only the
  changed rows; the warehouse holds UTC.
- Buildium: `lastupdatedfrom=<time>` but no updated field in the records: `watermark: sync_start`
  sends the previous sync's start time, saves this one's, appends nothing when nothing changed, and
  `rooftop status` shows the watermark as the cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from typer.testing import CliRunner

from pipelines.cli.app import app
from pipelines.engine.runner import run_sync
from tests.conftest import WorkspaceFactory, connection
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

DENVER = ZoneInfo("America/Denver")


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


class RentManager:
    """GET /Tenants?filters=UpdateDate,gt,2024-03-01T10:00:00 (naive local times, compared as the API does)."""

    def __init__(self) -> None:
        self.tenants = [{"TenantID": i, "Name": f"tenant {i}", "UpdateDate": f"2024-03-0{i}T10:00:00"}
                        for i in range(1, 6)]

    def __call__(self, request: Request) -> Reply:
        found = self.tenants
        for expression in filter(None, request.query.get("filters", "").split(";")):
            field, op, value = expression.split(",", 2)
            assert (field, op) == ("UpdateDate", "gt"), expression
            found = [t for t in found if datetime.fromisoformat(t["UpdateDate"]) > datetime.fromisoformat(value)]
        return Reply(body=found)


RENT_MANAGER = """\
name: rm
source:
  connector: rest_api
  config:
    base_url: "{url}"
    timezone: America/Denver
    records: $
    streams:
      - name: tenants
        path: /Tenants
        primary_key: TenantID
        params: {{filters: "UpdateDate,gt,{{cursor}}", pageSize: 100}}
        incremental: {{cursor_field: UpdateDate}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams: [{{name: tenants, sync_mode: incremental_append}}]
"""


def test_rent_manager_cursor_inside_a_filter_in_local_time(make_workspace: WorkspaceFactory) -> None:
    api_data = RentManager()
    with TestApi(api_data) as api:
        root = make_workspace(RENT_MANAGER.format(url=api.url), name="rm")
        run_sync(connection(root, "rm"))
        first = api.requests[-1].query
        api_data.tenants[1]["UpdateDate"] = "2024-03-09T08:30:00"  # changed
        api_data.tenants.append({"TenantID": 6, "Name": "new", "UpdateDate": "2024-03-10T00:00:00"})
        run_sync(connection(root, "rm"))
        second = api.requests[-1].query
    assert "filters" not in first and first["pageSize"] == "100"  # first sync: no cursor yet, read everything
    # The saved cursor (stored as UTC) goes back in Denver time, inside the filter expression.
    assert second["filters"] == "UpdateDate,gt,2024-03-05T10:00:00"
    assert rows(root, "select TenantID, count(*) from rest_api.tenants group by 1 order by 1") == [
        (1, 1), (2, 2), (3, 1), (4, 1), (5, 1), (6, 1)]
    stored = rows(root, "select UpdateDate from rest_api.tenants where TenantID = 6")[0][0]
    assert stored.astimezone(UTC) == datetime(2024, 3, 10, tzinfo=DENVER).astimezone(UTC)  # 07:00 UTC


class Buildium:
    """GET /v1/rentals/units?lastupdatedfrom=…: filters on a modification time its records do not carry."""

    def __init__(self) -> None:
        old = datetime(2024, 1, 1, tzinfo=UTC)
        self.units = [{"Id": i, "UnitNumber": f"{100 + i}", "_modified": old} for i in range(1, 5)]

    def __call__(self, request: Request) -> Reply:
        since = request.query.get("lastupdatedfrom")
        found = [u for u in self.units if since is None or u["_modified"] >= datetime.fromisoformat(since)]
        return Reply(body=[{k: v for k, v in u.items() if not k.startswith("_")} for u in found])


BUILDIUM = """\
name: bd
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: $
    streams:
      - name: units
        path: /v1/rentals/units
        primary_key: Id
        incremental: {{cursor_field: LastUpdated, param: lastupdatedfrom, watermark: sync_start, lookback: 1s}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams: [{{name: units, sync_mode: incremental_append}}]
"""


def test_buildium_watermark_sends_the_previous_sync_start(make_workspace: WorkspaceFactory) -> None:
    vendor = Buildium()
    with TestApi(vendor) as api:
        root = make_workspace(BUILDIUM.format(url=api.url), name="bd")
        before_first = datetime.now(UTC)
        run_sync(connection(root, "bd"))
        after_first = datetime.now(UTC)
        assert "lastupdatedfrom" not in api.requests[-1].query
        run_sync(connection(root, "bd"))  # nothing changed
        sent = datetime.fromisoformat(api.requests[-1].query["lastupdatedfrom"])
        assert rows(root, "select count(*) from rest_api.units") == [(4,)]  # no duplicates
        vendor.units[2]["_modified"] = datetime.now(UTC) + timedelta(seconds=1)
        run_sync(connection(root, "bd"))
    # The first sync's start, minus the 1 s lookback.
    assert before_first - timedelta(seconds=1.01) <= sent <= after_first - timedelta(seconds=0.99)
    counts = rows(root, "select Id, count(*) from rest_api.units group by 1 order by 1")
    assert counts == [(1, 1), (2, 1), (3, 2), (4, 1)]
    status = CliRunner().invoke(app, ["--workspace", str(root), "status", "bd"])
    assert status.exit_code == 0, status.output
    assert str(after_first.year) in status.output and "units" in status.output
