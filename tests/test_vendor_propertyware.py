"""The `propertyware` connector end to end: the `rooftop` CLI against a Propertyware replay into DuckDB.

The replay (tests/support/vendors/propertyware.py) serves generated records in the shape of the
vendor's OpenAPI spec and enforces its rules: three auth headers, offset/limit pages with
`X-Total-Count`, `lastModifiedDateTimeStart`, `buildingID` filters, 429 with `Retry-After`. Each
test says what a Propertyware customer would see: every record lands once, a second sync reads only
what changed, two selected buildings cost requests for those two only, a wrong secret is named
and never shown, and a burst of 429s only slows the sync down.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.vendors.propertyware import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORGANIZATION_ID,
    RESOURCES,
    ROOT,
    PropertywareApi,
    PropertywareData,
    serve,
)
from tests.warehouse_checks import rows

PAGE = 5
CONN = """\
name: pw
source:
  connector: propertyware
  config:
    base_url: "{url}"
    organization_id: "${{PW_ORG}}"
    client_id: "${{PW_CLIENT_ID}}"
    client_secret: "${{PW_SECRET}}"
    page_size: {page}
    retries: {{attempts: 5, initial_delay: 0.01}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
{properties}
streams:
  - {{name: portfolios, sync_mode: incremental_deduped}}
  - {{name: buildings, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""


def workspace(make_workspace: WorkspaceFactory, url: str, *, secret: str = CLIENT_SECRET,
              properties: str = "") -> Path:
    root = make_workspace(CONN.format(url=url + ROOT, page=PAGE, properties=properties), name="pw")
    (root / ".env").write_text(f"PW_ORG={ORGANIZATION_ID}\nPW_CLIENT_ID={CLIENT_ID}\nPW_SECRET={secret}\n")
    return root


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def source_rows(api: PropertywareApi, stream: str, **match: Any) -> dict[int, str]:
    """id → lastModifiedDateTime of what the API lists for `stream` (deactivated records included)."""
    records = api.data.visible(RESOURCES[stream])
    if stream == "tenants":
        records = [r for r in records if r["type"] == "TENANT"]
    return {r["id"]: r["lastModifiedDateTime"] for r in records if all(r.get(k) == v for k, v in match.items())}


def warehouse_rows(root: Path, stream: str) -> dict[int, str]:
    found = rows(root / "wh.duckdb", f"SELECT id, strftime(lastModifiedDateTime, '%Y-%m-%dT%H:%M:%SZ') "
                                      f"FROM propertyware.{stream}")
    assert len(found) == len({i for i, _ in found}), f"{stream}: duplicate ids"
    return dict(found)


def requests_per_path(server: Any, since: int = 0) -> dict[str, int]:
    counted: dict[str, int] = {}
    for request in server.requests[since:]:
        counted[request.path] = counted.get(request.path, 0) + 1
    return counted


def test_check_and_discover_need_one_request_and_show_every_stream(make_workspace: WorkspaceFactory) -> None:
    with serve() as (server, _api):
        root = workspace(make_workspace, server.url)
        checked = cli(root, "check", "pw")
        discovered = cli(root, "discover", "pw")
        sent = server.requests
    assert checked.exit_code == 0, checked.output
    assert discovered.exit_code == 0, discovered.output
    for stream in RESOURCES:
        assert stream in discovered.output
    assert "lastModifiedDateTime" in discovered.output
    # Schemas are declared: discovery costs nothing; check is one page of one portfolio.
    assert [(r.path, r.query) for r in sent] == [(f"{ROOT}/portfolios", {"limit": "1", "offset": "0"})]


def test_full_then_incremental_sync_reads_only_what_changed(make_workspace: WorkspaceFactory) -> None:
    data = PropertywareData(seed=11, buildings=6)
    with serve(data) as (server, api):
        root = workspace(make_workspace, server.url)
        first = cli(root, "sync", "pw")
        assert first.exit_code == 0, first.output
        full_requests = requests_per_path(server)
        for stream in RESOURCES:
            assert warehouse_rows(root, stream) == source_rows(api, stream), stream
        # The announced total ends every listing: no request for an empty page after the last one.
        for stream, resource in RESOURCES.items():
            expected = max(1, math.ceil(len(api.data.visible(resource, resource != "contacts")) / PAGE))
            if stream == "tenants":
                expected = math.ceil(len(source_rows(api, "tenants")) / PAGE)
            assert full_requests[f"{ROOT}/{resource}"] == expected, stream

        # Each stream's saved cursor is the newest lastModifiedDateTime it read.
        cursors = {stream: max(source_rows(api, stream).values()) for stream in RESOURCES}
        lease = data.records["leases"][3]
        data.mutate("leases", lease["id"], status="Past", active=False, moveOutDate="2024-06-30")
        data.mutate("units", data.records["units"][0]["id"], active=False)  # deactivated, still listed
        tenant = next(r for r in data.records["contacts"] if r["type"] == "TENANT")
        data.mutate("contacts", tenant["id"], email="moved@example.com")
        data.add_building(6)  # a new building with its units, leases, tenants and work orders
        before, served_before = len(server.requests), dict(api.served)
        second = cli(root, "sync", "pw")
        assert second.exit_code == 0, second.output
        incremental = server.requests[before:]
        served = {stream: api.served[RESOURCES[stream]] - served_before[RESOURCES[stream]] for stream in RESOURCES}

    for stream in RESOURCES:
        assert warehouse_rows(root, stream) == source_rows(api, stream), stream
    assert rows(root / "wh.duckdb", f"SELECT status, active FROM propertyware.leases WHERE id = {lease['id']}") == [
        ("Past", False)]
    # Every request of the second sync asked only for records modified since the first one's
    # cursor: the API answered the changed and new records, plus the boundary record read again.
    assert all("lastModifiedDateTimeStart" in r.query for r in incremental)
    changed = {stream: sum(t > cursors[stream] for t in source_rows(api, stream).values()) for stream in RESOURCES}
    assert served == {stream: changed[stream] + 1 for stream in RESOURCES}
    assert changed["leases"] >= 2 and changed["tenants"] >= 2 and changed["portfolios"] == 0
    assert len(incremental) == len(RESOURCES)  # one page each
    print(f"propertyware requests: full sync {sum(full_requests.values())} {full_requests}; "
          f"incremental {len(incremental)} {requests_per_path(server, before)}")


def test_two_selected_buildings_cost_requests_for_those_two_only(make_workspace: WorkspaceFactory) -> None:
    data = PropertywareData(seed=5, buildings=6)
    chosen = [data.records["buildings"][1]["id"], data.records["buildings"][4]["id"]]
    with serve(data) as (server, api):
        root = workspace(make_workspace, server.url,
                         properties=f"properties: {{include: [{chosen[0]}, {chosen[1]}]}}")
        synced = cli(root, "sync", "pw")
        sent = server.requests
    assert synced.exit_code == 0, synced.output
    assert set(warehouse_rows(root, "buildings")) == set(chosen)
    for stream in ("units", "leases", "work_orders"):
        expected = {i for b in chosen for i in source_rows(api, stream, buildingID=b)}
        assert set(warehouse_rows(root, stream)) == expected and expected, stream
        paths = [r for r in sent if r.path == f"{ROOT}/{RESOURCES[stream]}"]
        assert {r.query.get("buildingID") for r in paths} == {str(b) for b in chosen}, stream
    # Tenants belong to no building in Propertyware's listing: read in full.
    assert warehouse_rows(root, "tenants") == source_rows(api, "tenants")


def test_a_wrong_secret_is_named_never_shown(make_workspace: WorkspaceFactory) -> None:
    wrong = "pw-secret-WRONG-91d0c"
    with serve() as (server, _api):
        root = workspace(make_workspace, server.url, secret=wrong)
        checked = cli(root, "check", "pw")
        synced = cli(root, "sync", "pw")
    assert checked.exit_code == 2, checked.output
    assert synced.exit_code == 2, synced.output  # every stream refused: a configuration error
    for result in (checked, synced):
        assert "client_secret" in result.output and "401" in result.output
        assert wrong not in result.output and CLIENT_ID not in result.output
    stored = rows(root / "wh.duckdb", "SELECT * FROM _rooftop.sync_logs")
    assert stored and "client_secret" in json.dumps(stored, default=str)
    everything = json.dumps([rows(root / "wh.duckdb", f'SELECT * FROM "{s}"."{t}"') for s, t in rows(
        root / "wh.duckdb", "SELECT table_schema, table_name FROM information_schema.tables")], default=str)
    assert wrong not in everything and CLIENT_ID not in everything and ORGANIZATION_ID not in everything


@pytest.mark.parametrize("burst", [3])
def test_a_burst_of_429s_is_waited_out(make_workspace: WorkspaceFactory, burst: int) -> None:
    with serve(PropertywareData(seed=2, buildings=2)) as (server, api):
        root = workspace(make_workspace, server.url)
        api.throttle(burst, retry_after=0.3)
        synced = cli(root, "sync", "pw")
        sent = server.requests
    assert synced.exit_code == 0, synced.output
    for stream in RESOURCES:
        assert warehouse_rows(root, stream) == source_rows(api, stream), stream
    # The connection paused for the Retry-After: no request left within 0.3 s after the first 429.
    first, after = sent[0].at, [r.at for r in sent[burst:]]
    assert min(after) - first >= 0.3 * 0.95
