"""The `rentvine` connector end to end: the `rooftop` CLI against a Rentvine replay into DuckDB.

The replay (tests/support/vendors/rentvine.py) serves generated records in the shape of Rentvine's
OpenAPI spec and enforces its rules: HTTP Basic auth, page/pageSize paging without totals, records
wrapped under their type, `dateTimeModifiedMin` on the export listings, 429 with `Retry-After`. Each
test says what a Rentvine customer would see: every record lands once, a second sync reads only what
changed where Rentvine can filter, two selected properties cost unit requests for those two only, a
wrong secret is named and never shown, and a burst of 429s only slows the sync down.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.vendors.rentvine import ACCESS_KEY, KEYS, LISTINGS, ROOT, SECRET, RentvineApi, RentvineData, serve
from tests.warehouse_checks import rows

PAGE = 4
CONN = """\
name: rv
source:
  connector: rentvine
  config:
    base_url: "{url}"
    access_key: "${{RV_KEY}}"
    secret: "${{RV_SECRET}}"
    page_size: {page}
    retries: {{attempts: 5, initial_delay: 0.01}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
{properties}
streams:
  - {{name: properties, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""
SERVER_FILTERED = ("properties", "units", "leases")
"""The export listings: Rentvine filters them on dateTimeModifiedMin."""


def workspace(make_workspace: WorkspaceFactory, url: str, *, secret: str = SECRET, properties: str = "") -> Path:
    root = make_workspace(CONN.format(url=url + ROOT, page=PAGE, properties=properties), name="rv")
    (root / ".env").write_text(f"RV_KEY={ACCESS_KEY}\nRV_SECRET={secret}\n")
    return root


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def source_rows(api: RentvineApi, stream: str, **match: Any) -> dict[int, str]:
    """id → dateTimeModified of what Rentvine lists for `stream`."""
    return {r[KEYS[stream]]: r["dateTimeModified"] for r in api.data.records[stream]
            if all(r.get(k) == v for k, v in match.items())}


def warehouse_rows(root: Path, stream: str) -> dict[int, str]:
    found = rows(root / "wh.duckdb", f"SELECT {KEYS[stream]}, strftime(dateTimeModified, '%Y-%m-%dT%H:%M:%SZ') "
                                      f"FROM rentvine.{stream}")
    assert len(found) == len({i for i, _ in found}), f"{stream}: duplicate ids"
    return dict(found)


def listing_requests(records: int) -> int:
    """Requests of one listing: Rentvine announces no total and the pages may be capped below
    `pageSize`, so a short page does not end it: every listing ends with one empty page."""
    return math.ceil(records / PAGE) + 1


def requests_per_path(server: Any, since: int = 0) -> dict[str, int]:
    counted: dict[str, int] = {}
    for request in server.requests[since:]:
        counted[request.path] = counted.get(request.path, 0) + 1
    return counted


def test_check_and_discover_need_one_request_and_show_every_stream(make_workspace: WorkspaceFactory) -> None:
    with serve() as (server, _api):
        root = workspace(make_workspace, server.url)
        checked = cli(root, "check", "rv")
        discovered = cli(root, "discover", "rv")
        sent = server.requests
    assert checked.exit_code == 0, checked.output
    assert discovered.exit_code == 0, discovered.output
    for stream in LISTINGS:
        assert stream in discovered.output
    assert "dateTimeModified" in discovered.output and "propertyID" in discovered.output
    # Schemas are declared: discovery costs nothing; check is one page of one property.
    assert [(r.path, r.query) for r in sent] == [(f"{ROOT}/properties/export", {"page": "1", "pageSize": "1"})]


def test_full_then_incremental_sync_reads_only_what_changed(make_workspace: WorkspaceFactory) -> None:
    data = RentvineData(seed=11, properties=5)
    with serve(data) as (server, api):
        root = workspace(make_workspace, server.url)
        first = cli(root, "sync", "rv")
        assert first.exit_code == 0, first.output
        full_requests = requests_per_path(server)
        for stream in LISTINGS:
            assert warehouse_rows(root, stream) == source_rows(api, stream), stream
        for stream, path in LISTINGS.items():
            assert full_requests[ROOT + path] == listing_requests(len(data.records[stream])), stream
        # A lease's siblings in the export item land beside it, its tenants as JSON.
        lease = data.records["leases"][0]
        query = f"SELECT unit, tenants FROM rentvine.leases WHERE leaseID = {lease['leaseID']}"
        (unit_json, tenants_json), = rows(root / "wh.duckdb", query)
        assert json.loads(unit_json)["unitID"] == lease["unitID"]
        assert [t["contactID"] for t in json.loads(tenants_json)] == [t["contactID"] for t in lease["tenants"]]

        cursors = {stream: max(source_rows(api, stream).values()) for stream in LISTINGS}
        data.mutate("leases", data.records["leases"][2]["leaseID"], primaryLeaseStatusID=3, moveOutDate="2024-06-30")
        data.mutate("units", data.records["units"][0]["unitID"], isVacant=True)
        data.mutate("tenants", data.records["tenants"][1]["contactID"], email="moved@example.com")
        data.mutate("work_orders", data.records["work_orders"][0]["workOrderID"], primaryWorkOrderStatusID=3)
        data.add_property(5)
        before, served_before = len(server.requests), dict(api.served)
        second = cli(root, "sync", "rv")
        assert second.exit_code == 0, second.output
        incremental = requests_per_path(server, before)
        served = {stream: api.served[stream] - served_before[stream] for stream in LISTINGS}

    for stream in LISTINGS:
        assert warehouse_rows(root, stream) == source_rows(api, stream), stream
    assert rows(root / "wh.duckdb", "SELECT primaryLeaseStatusID, moveOutDate FROM rentvine.leases "
                                    f"WHERE leaseID = {data.records['leases'][2]['leaseID']}")[0][0] == 3
    # The exports answered only what changed since each stream's cursor (the boundary record again);
    # tenants and work orders have no modified filter in Rentvine's API: read in full, deduped.
    changed = {stream: sum(t >= cursors[stream] for t in source_rows(api, stream).values()) for stream in LISTINGS}
    for stream in SERVER_FILTERED:
        assert served[stream] == changed[stream], stream
        assert incremental[ROOT + LISTINGS[stream]] == listing_requests(changed[stream]), stream
    for stream in ("tenants", "work_orders"):
        assert served[stream] == len(data.records[stream]), stream
    assert changed["leases"] >= 2 and changed["units"] >= 2
    print(f"rentvine requests: full sync {sum(full_requests.values())} {full_requests}; "
          f"incremental {sum(incremental.values())} {incremental}")


def test_two_selected_properties_cost_unit_requests_for_those_two_only(make_workspace: WorkspaceFactory) -> None:
    data = RentvineData(seed=5, properties=6)
    chosen = [data.records["properties"][1]["propertyID"], data.records["properties"][4]["propertyID"]]
    with serve(data) as (server, api):
        root = workspace(make_workspace, server.url,
                         properties=f"properties: {{include: [{chosen[0]}, {chosen[1]}]}}")
        synced = cli(root, "sync", "rv")
        sent = requests_per_path(server)
    assert synced.exit_code == 0, synced.output
    assert set(warehouse_rows(root, "properties")) == set(chosen)
    for stream in ("units", "leases", "work_orders"):
        expected = {i for p in chosen for i in source_rows(api, stream, propertyID=p)}
        assert set(warehouse_rows(root, stream)) == expected and expected, stream
    # Units are listed per selected property; the unit export is not read at all.
    assert {p for p in sent if p.endswith("/units")} == {f"{ROOT}/properties/{p}/units" for p in chosen}
    assert f"{ROOT}/properties/units/export" not in sent
    # Tenants belong to no property in Rentvine's listing: read in full.
    assert warehouse_rows(root, "tenants") == source_rows(api, "tenants")


def test_a_wrong_secret_is_named_never_shown(make_workspace: WorkspaceFactory) -> None:
    wrong = "rv-secret-WRONG-5d1e"
    with serve() as (server, _api):
        root = workspace(make_workspace, server.url, secret=wrong)
        checked = cli(root, "check", "rv")
        synced = cli(root, "sync", "rv")
    assert checked.exit_code == 2, checked.output
    assert synced.exit_code == 2, synced.output
    for result in (checked, synced):
        assert "access_key/secret" in result.output and "401" in result.output
        assert wrong not in result.output and ACCESS_KEY not in result.output
    stored = rows(root / "wh.duckdb", "SELECT * FROM _rooftop.sync_logs")
    assert stored and "access_key/secret" in json.dumps(stored, default=str)
    everything = json.dumps([rows(root / "wh.duckdb", f'SELECT * FROM "{s}"."{t}"') for s, t in rows(
        root / "wh.duckdb", "SELECT table_schema, table_name FROM information_schema.tables")], default=str)
    assert wrong not in everything and ACCESS_KEY not in everything


def test_a_burst_of_429s_is_waited_out(make_workspace: WorkspaceFactory) -> None:
    burst = 3
    with serve(RentvineData(seed=2, properties=2)) as (server, api):
        root = workspace(make_workspace, server.url)
        api.throttle(burst, retry_after=0.3)
        synced = cli(root, "sync", "rv")
        sent = server.requests
    assert synced.exit_code == 0, synced.output
    for stream in LISTINGS:
        assert warehouse_rows(root, stream) == source_rows(api, stream), stream
    first, after = sent[0].at, [r.at for r in sent[burst:]]
    assert min(after) - first >= 0.3 * 0.95
    assert len(sent) - burst == sum(listing_requests(len(api.data.records[s])) for s in LISTINGS)


def test_model_unified_lands_rentvine_as_the_unified_tables(make_workspace: WorkspaceFactory) -> None:
    data = RentvineData(seed=3, properties=3)
    with serve(data) as (server, _api):
        root = workspace(make_workspace, server.url)
        path = root / "connections" / "rv.yaml"
        path.write_text("model: unified\n" + path.read_text().split("streams:\n")[0])
        synced = cli(root, "sync", "rv")
    assert synced.exit_code == 0, synced.output
    normal = {1: "PENDING", 2: "ACTIVE", 3: "INACTIVE"}
    served = {f"rentvine:rv:{x['leaseID']}": (f"rentvine:rv:{x['propertyID']}", f"rentvine:rv:{x['unitID']}",
                                              str(x["primaryLeaseStatusID"]), normal[x["primaryLeaseStatusID"]],
                                              f"rentvine:rv:{x['tenants'][0]['contactID']}")
              for x in data.records["leases"]}
    landed = rows(root / "wh.duckdb", "SELECT id, property_id, unit_id, status, status_normalized, resident_id "
                                      "FROM rentvine_unified.leases")
    assert {r[0]: r[1:] for r in landed} == served
    # Foreign keys join: every lease's unit, property and resident is a landed row.
    joined = rows(root / "wh.duckdb", "SELECT count(*) FROM rentvine_unified.leases l "
                                      "JOIN rentvine_unified.units u ON u.id = l.unit_id "
                                      "JOIN rentvine_unified.properties p ON p.id = l.property_id "
                                      "JOIN rentvine_unified.residents r ON r.id = l.resident_id")
    assert joined == [(len(data.records["leases"]),)]
