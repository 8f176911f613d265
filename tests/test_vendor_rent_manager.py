"""The `rent_manager` connector end to end: the `rooftop` CLI against a Rent Manager 12 replay into DuckDB.

The replay (tests/support/vendors/rent_manager.py) enforces the session login, pages with
`pagesize`/`pagenumber` and `X-Total-Results`, filters on `UpdateDate` in Mountain Time, answers
204 when nothing changed, and can rate-limit. What a user relies on: check and discover work (and
discover costs no request), a full sync lands every record, an incremental sync reads only what
changed (counted at the server), a property selection reads and requests only those properties,
a wrong password is exit 2 naming the field and never shows the password, and a 429 burst is
waited out.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.http_api import TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.vendors.rent_manager import KEYS, RESOURCES, RentManagerApi

PASSWORD = "rm12-Pa55word-7c1e"
STREAMS = list(RESOURCES)
PAGE_SIZE = 7

CONNECTION = """\
name: rm
source:
  connector: rent_manager
  config:
    base_url: "{url}"
    username: etl
    password: "${{RM_PASSWORD}}"
    location_id: 3
{timezone}    page_size: {page_size}
    retries: {{attempts: 4, initial_delay: 0.01}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
{extra}streams:
{streams}
"""


def workspace(make_workspace: WorkspaceFactory, url: str, *, extra: str = "", password: str = PASSWORD,
              timezone: str | None = "America/Denver") -> Path:
    streams = "\n".join(f"  - {{name: {s}, sync_mode: incremental_deduped}}" for s in STREAMS)
    zone = f"    timezone: {timezone}\n" if timezone else ""
    root = make_workspace(CONNECTION.format(url=url, page_size=PAGE_SIZE, extra=extra, streams=streams,
                                            timezone=zone), name="rm")
    (root / ".env").write_text(f"RM_PASSWORD={password}\n")
    return root


def api() -> RentManagerApi:
    return RentManagerApi(username="etl", password=PASSWORD, location_id=3)


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def table(root: Path, stream: str, *columns: str) -> list[tuple[Any, ...]]:
    key = KEYS[RESOURCES[stream]]
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        return db.execute(f"select {', '.join([key, *columns])} from rent_manager.{stream} order by {key}").fetchall()


def data_requests(server: TestApi) -> dict[str, int]:
    """Requests per path, the login left out."""
    counts: dict[str, int] = {}
    for r in server.requests:
        if r.path != "/Authentication/AuthorizeUser":
            counts[r.path] = counts.get(r.path, 0) + 1
    return counts


def pages(n: int) -> int:
    return max(1, -(-n // PAGE_SIZE))


def test_check_and_discover_list_every_stream_without_reading_data(make_workspace: WorkspaceFactory) -> None:
    rm = api()
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url)
        checked = cli(root, "check", "rm")
        discovered = cli(root, "discover", "rm", "--json")  # JSON: a table's cells wrap with the width
        assert checked.exit_code == 0, checked.output
        assert discovered.exit_code == 0, discovered.output
        assert data_requests(server) == {"/Properties": 1}  # check's one page; the schemas are declared
        assert server.requests[-1].query == {"pagesize": "1"}
    catalog = {s["name"]: s for s in json.loads(discovered.output)["streams"]}
    assert set(STREAMS) <= set(catalog)
    assert rm.logins == 1 and all("UpdateDate" in catalog[stream]["fields"] for stream in STREAMS)


def test_full_then_incremental_sync_reads_only_changed_records(make_workspace: WorkspaceFactory) -> None:
    rm = api()
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url)
        first = cli(root, "sync", "rm")
        assert first.exit_code == 0, first.output
        full = data_requests(server)
        for stream in STREAMS:
            assert len(table(root, stream)) == len(rm.records(stream)), stream
            # X-Total-Results ends each listing: no empty last page, and no filter on the first sync.
            assert full[f"/{RESOURCES[stream]}"] == pages(len(rm.records(stream))), stream
        assert all("filters" not in r.query for r in server.requests if r.method == "GET")

        changed = datetime(2025, 6, 1, 12, 0, 0)
        rm.touch("tenants", [2, 5, 9], changed, Status="Past")
        rm.touch("leases", [4], changed, IsMoveOutConfirmed=True, MoveOutDate="2025-05-31T00:00:00")
        before, rm.served = len(server.requests), type(rm.served)()
        second = cli(root, "sync", "rm")
        assert second.exit_code == 0, second.output
        again = server.requests[before:]
    filters = {r.path: r.query.get("filters") for r in again if r.method == "GET"}
    # The cursor goes back in Denver wall-clock time, one lookback minute before the newest record.
    newest_tenant = max(r["UpdateDate"] for r in rm.records("tenants") if r["TenantID"] not in (2, 5, 9))
    expected = datetime.fromisoformat(newest_tenant) - timedelta(minutes=1)
    assert filters["/Tenants"] == f"UpdateDate,gt,{expected:%Y-%m-%dT%H:%M:%S}"
    # Only the changes come back (plus each stream's newest record, inside the lookback minute).
    assert rm.served["/Tenants"] == 3 + 1 and rm.served["/Leases"] == 1 + 1
    assert rm.served["/Units"] == 1 and rm.served["/Properties"] == 1
    for stream in STREAMS:
        stored = table(root, stream)
        assert len(stored) == len({row[0] for row in stored}) == len(rm.records(stream)), stream
    assert [s for _, s in table(root, "tenants", "Status") if _ in (2, 5, 9)] == ["Past"] * 3
    tenants = {t["TenantID"]: t["Status"] for t in rm.records("tenants")}
    assert dict(table(root, "tenants", "Status")) == tenants
    print(f"requests per sync: full {sum(full.values())} {full}; incremental {len(again)} (login included)")


def test_incremental_sync_without_timezone_sends_the_filter_in_rent_managers_form(
        make_workspace: WorkspaceFactory) -> None:
    """No `timezone`: the saved cursor is UTC text, but the filter is still the API's naive date-time (no `Z`,
    no `+00:00`, which Rent Manager and the replay refuse), and only the changes come back."""
    rm = api()
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url, timezone=None)
        first = cli(root, "sync", "rm")
        assert first.exit_code == 0, first.output
        rm.touch("tenants", [3], datetime(2025, 6, 1, 12, 0, 0), Status="Past")
        before, rm.served = len(server.requests), type(rm.served)()
        second = cli(root, "sync", "rm")
        assert second.exit_code == 0, second.output
        again = server.requests[before:]
    newest = max(r["UpdateDate"] for r in rm.records("tenants") if r["TenantID"] != 3)
    expected = datetime.fromisoformat(newest) - timedelta(minutes=1)  # read as UTC: sent back as it came
    sent = next(r.query["filters"] for r in again if r.path == "/Tenants")
    assert sent == f"UpdateDate,gt,{expected:%Y-%m-%dT%H:%M:%S}"
    assert rm.served["/Tenants"] == 1 + 1  # the change and the newest record inside the lookback minute
    assert dict(table(root, "tenants", "Status"))[3] == "Past"


def test_selected_properties_are_the_only_ones_read_and_requested(make_workspace: WorkspaceFactory) -> None:
    rm = api()
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url, extra="properties: {include: [2, 5]}\n")
        synced = cli(root, "sync", "rm")
        assert synced.exit_code == 0, synced.output
        paths = data_requests(server)
    assert [pid for (pid,) in table(root, "properties")] == [2, 5]
    for stream in STREAMS[1:]:
        stored = table(root, stream, "PropertyID")
        assert {pid for _, pid in stored} == {2, 5}, stream
        assert len(stored) == sum(1 for r in rm.records(stream) if r["PropertyID"] in (2, 5)), stream
    per_property = {p for p in paths if p.startswith("/Properties/")}
    assert per_property == {f"/Properties/{pid}/{RESOURCES[s]}" for pid in (2, 5) for s in STREAMS[1:]}
    assert set(paths) == per_property | {"/Properties"}  # never /Units, /Tenants… for everyone


def test_a_wrong_password_is_exit_2_naming_the_field_and_never_shown(make_workspace: WorkspaceFactory) -> None:
    wrong = "rm12-WRONG-pass-4d4d"
    rm = api()
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url, password=wrong)
        checked = cli(root, "check", "rm")
        synced = cli(root, "sync", "rm")
        assert data_requests(server) == {}  # nothing is asked for without a token
    assert checked.exit_code == 2, checked.output
    assert synced.exit_code == 2, synced.output  # every stream refused: a configuration error
    for result in (checked, synced):
        assert "source.config.password" in result.output and wrong not in result.output
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        logs = db.execute("select * from _rooftop.sync_logs").fetchall()
    assert logs and wrong not in json.dumps(logs, default=str)


def test_a_burst_of_429s_is_waited_out(make_workspace: WorkspaceFactory) -> None:
    rm = api()
    rm.throttle(3, retry_after=0.2)
    with TestApi(rm) as server:
        root = workspace(make_workspace, server.url)
        synced = cli(root, "sync", "rm")
        statuses = len(server.requests)
    assert synced.exit_code == 0, synced.output
    for stream in STREAMS:
        assert len(table(root, stream)) == len(rm.records(stream)), stream
    assert statuses == 1 + sum(pages(len(rm.records(s))) for s in STREAMS) + 3  # login, pages, the 3 refused
