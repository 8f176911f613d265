"""The `buildium` connector end to end: the `rooftop` CLI against a Buildium replay on 127.0.0.1, into DuckDB.

The replay (tests/support/vendors/buildium.py) serves generated records in the shape of Buildium's
OpenAPI 3.0 and enforces what the real API does: both credential headers, offset/limit paging with
`X-Total-Count`, `lastupdatedfrom` in Buildium's formats, the property filters, and 429s with
`Retry-After`. Request counts per sync are asserted, so a connector that reads too much fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from connectors.sdk.replay import ReplayServer
from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.vendors.buildium import CLIENT_ID, CLIENT_SECRET, PATHS, BuildiumApi

STREAMS = list(PATHS)
CONN = """\
name: bld
source:
  connector: buildium
  config:
    client_id: "${{BLD_CLIENT_ID}}"
    client_secret: "${{BLD_CLIENT_SECRET}}"
    base_url: "{url}"
    page_size: {page_size}
    retries: {{attempts: 3, initial_delay: 0.01}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
{extra}
streams:
  - {{name: rentals, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""


@pytest.fixture
def api() -> BuildiumApi:
    return BuildiumApi(seed=11, properties=6, units_per_property=4)


@pytest.fixture
def server(api: BuildiumApi) -> Iterator[ReplayServer]:
    with ReplayServer(api) as replay:
        yield replay


def workspace(make_workspace: WorkspaceFactory, server: ReplayServer, *, secret: str = CLIENT_SECRET,
              page_size: int = 10, extra: str = "") -> Path:
    root = make_workspace(CONN.format(url=server.url, page_size=page_size, extra=extra), name="bld")
    (root / ".env").write_text(f"BLD_CLIENT_ID={CLIENT_ID}\nBLD_CLIENT_SECRET={secret}\n")
    return root


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def table(root: Path, stream: str, columns: str = "Id") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        return db.execute(f"select {columns} from buildium.{stream} order by Id").fetchall()


def requests_by_path(server: ReplayServer, since: int = 0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in server.requests[since:]:
        counts[request.path] = counts.get(request.path, 0) + 1
    return counts


def everything_stored(root: Path) -> str:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        tables = db.execute("select table_schema, table_name from information_schema.tables").fetchall()
        return json.dumps([db.execute(f'select * from "{s}"."{t}"').fetchall() for s, t in tables], default=str)


def test_connectors_shows_the_spec_with_the_secret_marked() -> None:
    result = CliRunner().invoke(app, ["connectors", "buildium"])
    assert result.exit_code == 0, result.output
    assert "client_secret" in result.output and "https://api.buildium.com" in result.output


def test_check_and_discover_read_one_rental_and_nothing_else(make_workspace: WorkspaceFactory,
                                                             server: ReplayServer) -> None:
    root = workspace(make_workspace, server)
    checked = cli(root, "check", "bld")
    discovered = cli(root, "discover", "bld")
    assert checked.exit_code == 0 and discovered.exit_code == 0, checked.output + discovered.output
    for stream in STREAMS:
        assert stream in discovered.output
    # Declared schemas: discovery costs no request; check reads one rental.
    assert [(r.path, r.query) for r in server.requests] == [("/v1/rentals", {"limit": "1"})]


def test_a_full_sync_lands_every_record_with_the_fewest_requests(
        make_workspace: WorkspaceFactory, server: ReplayServer, api: BuildiumApi) -> None:
    root = workspace(make_workspace, server, page_size=10)
    result = cli(root, "sync", "bld")
    assert result.exit_code == 0, result.output
    for stream in STREAMS:
        assert table(root, stream) == sorted((r["Id"],) for r in api.records[stream]), stream
    # X-Total-Count ends each listing: ceil(n / 10) requests, no empty last page.
    expected = {PATHS[s]: -(-len(api.records[s]) // 10) for s in STREAMS}
    assert requests_by_path(server) == expected, expected
    assert all(r.query["limit"] == "10" and "lastupdatedfrom" not in r.query for r in server.requests)
    leases = table(root, "leases", "Id, LeaseStatus, AccountDetails.Rent, LastUpdatedDateTime, CurrentTenants")
    first = next(r for r in api.records["leases"] if r["Id"] == leases[0][0])
    assert leases[0][1:3] == (first["LeaseStatus"], first["AccountDetails"]["Rent"])
    assert json.loads(leases[0][4])[0]["Id"] == first["CurrentTenants"][0]["Id"]  # leases come with tenants


def test_an_incremental_sync_reads_only_what_changed(
        make_workspace: WorkspaceFactory, server: ReplayServer, api: BuildiumApi) -> None:
    root = workspace(make_workspace, server, page_size=10)
    assert cli(root, "sync", "bld").exit_code == 0
    first_requests = len(server.requests)
    api.served.clear()
    changed = {"units": [api.records["units"][3]["Id"]], "tenants": [api.records["tenants"][0]["Id"]],
               "work_orders": [api.records["work_orders"][5]["Id"]], "rentals": [api.records["rentals"][2]["Id"]]}
    api.update("units", changed["units"][0], MarketRent=4321.0)
    api.update("tenants", changed["tenants"][0], Email="moved@example.com")
    api.update("work_orders", changed["work_orders"][0], Status="Completed")
    api.update("rentals", changed["rentals"][0], Name="Renamed Court")
    newest = max(api.records["leases"], key=lambda r: r["LastUpdatedDateTime"])["Id"]
    lease = next(r["Id"] for r in api.records["leases"] if r["Id"] != newest)
    api.update("leases", lease, LeaseStatus="Past")
    api.add("work_orders", {**api.records["work_orders"][0], "Id": 999_001, "Title": "New leak"})
    result = cli(root, "sync", "bld")
    assert result.exit_code == 0, result.output
    sent = server.requests[first_requests:]
    # One request per stream, each asking only for what changed, in Buildium's formats.
    assert requests_by_path(server, first_requests) == {path: 1 for path in PATHS.values()}
    since = {r.path: r.query["lastupdatedfrom"] for r in sent}
    assert len(since["/v1/workorders"]) == len("2024-01-01") and since["/v1/rentals"].endswith("Z")
    # Only changed records are read: the lease cursor's boundary record is read again (inclusive filter).
    assert api.served == {PATHS["units"]: 1, PATHS["tenants"]: 1, PATHS["work_orders"]: 2, PATHS["rentals"]: 1,
                          PATHS["leases"]: 2}
    assert table(root, "units", "Id, MarketRent") == sorted((r["Id"], r["MarketRent"]) for r in api.records["units"])
    for stream in STREAMS:  # the deduped table equals the source, no duplicates
        assert table(root, stream) == sorted((r["Id"],) for r in api.records[stream]), stream
    assert (lease, "Past") in table(root, "leases", "Id, LeaseStatus")


def test_selecting_two_properties_reads_only_their_records(
        make_workspace: WorkspaceFactory, server: ReplayServer, api: BuildiumApi) -> None:
    chosen = [api.records["rentals"][1]["Id"], api.records["rentals"][4]["Id"]]
    root = workspace(make_workspace, server, extra=f"properties: {{include: {chosen}}}")
    result = cli(root, "sync", "bld")
    assert result.exit_code == 0, result.output
    for stream in STREAMS:
        mine = sorted((r["Id"],) for r in api.records[stream] if api.property_of(stream, r) in chosen)
        assert mine and table(root, stream) == mine, stream
    scoped = [r for r in server.requests if r.path != PATHS["rentals"]]
    asked = {r.query.get("propertyids") or r.query.get("entityid") for r in scoped}
    assert asked == {str(p) for p in chosen}  # no request for an unselected property
    counts = requests_by_path(server)
    assert counts.pop(PATHS["rentals"]) == 2  # the one shared property list, and the stream's own incremental read
    assert counts == {PATHS[s]: 2 for s in STREAMS if s != "rentals"}  # one series per selected property


def test_a_wrong_secret_is_exit_2_naming_the_field_and_never_shown_or_stored(
        make_workspace: WorkspaceFactory, server: ReplayServer) -> None:
    wrong = "bld-secret-WRONG-4e1"
    root = workspace(make_workspace, server, secret=wrong)
    checked = cli(root, "check", "bld")
    synced = cli(root, "sync", "bld")
    assert (checked.exit_code, synced.exit_code) == (2, 2), checked.output + synced.output
    for result in (checked, synced):
        assert "source.config.client_id/client_secret" in result.output and "401" in result.output
        assert wrong not in result.output and CLIENT_SECRET not in result.output
    history = json.loads(cli(root, "history", "bld", "--json").stdout)
    log = cli(root, "logs", history[0]["sync_id"], "--json").output
    assert "401" in log and wrong not in log + everything_stored(root)  # _rooftop.sync_logs included
    # One for check; the sync's streams already in flight (max_concurrency 4) may each send one before the
    # first refusal stops every later request: none is retried.
    assert 2 <= len(server.requests) <= 5


def test_a_429_burst_is_waited_out_and_the_sync_succeeds(
        make_workspace: WorkspaceFactory, server: ReplayServer, api: BuildiumApi) -> None:
    root = workspace(make_workspace, server, page_size=1000)
    api.throttle(3, retry_after=1)
    started = time.monotonic()
    result = cli(root, "sync", "bld")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1  # Retry-After was obeyed
    for stream in STREAMS:
        assert len(table(root, stream)) == len(api.records[stream]), stream
    assert len(server.requests) == len(STREAMS) + 3  # one page per stream, plus the three refused tries


UNIFIED = """\
name: bld
model: unified
source:
  connector: buildium
  config: {{client_id: "${{BLD_CLIENT_ID}}", client_secret: "${{BLD_CLIENT_SECRET}}", base_url: "{url}"}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
namespace: unified
"""


def test_model_unified_lands_buildium_as_the_unified_tables(
        make_workspace: WorkspaceFactory, server: ReplayServer, api: BuildiumApi) -> None:
    root = make_workspace(UNIFIED.format(url=server.url), name="bld")
    (root / ".env").write_text(f"BLD_CLIENT_ID={CLIENT_ID}\nBLD_CLIENT_SECRET={CLIENT_SECRET}\n")
    result = cli(root, "sync", "bld")
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        leases = db.execute("select l.source_id, l.status, l.status_normalized, l.rent, r.email, u.unit_number, "
                            "p.name from unified.leases l join unified.residents r on r.id = l.resident_id "
                            "join unified.units u on u.id = l.unit_id join unified.properties p on p.id = "
                            "l.property_id order by l.source_id").fetchall()
        units = dict(db.execute("select source_id, status_normalized from unified.units").fetchall())
        orders = db.execute("select count(*), count(unit_id) from unified.work_orders").fetchone()
    normalized = {"Active": "ACTIVE", "Future": "PENDING", "Past": "INACTIVE"}
    served = sorted(api.records["leases"], key=lambda r: str(r["Id"]))
    assert len(leases) == len(served)  # every lease joins its resident, unit and property
    for row, lease in zip(leases, served, strict=True):
        unit = next(u for u in api.records["units"] if u["Id"] == lease["UnitId"])
        rental = next(p for p in api.records["rentals"] if p["Id"] == lease["PropertyId"])
        assert row == (str(lease["Id"]), lease["LeaseStatus"], normalized[lease["LeaseStatus"]],
                       pytest.approx(lease["AccountDetails"]["Rent"]), lease["CurrentTenants"][0]["Email"],
                       unit["UnitNumber"], rental["Name"])
    assert units == {str(u["Id"]): "OCCUPIED" if u["IsUnitOccupied"] else "VACANT" for u in api.records["units"]}
    assert orders == (len(api.records["work_orders"]),) * 2
