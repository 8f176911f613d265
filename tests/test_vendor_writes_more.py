"""Write-back to Rent Manager through `rooftop write`: its replay on 127.0.0.1 and DuckDB.

(Propertyware's write tests are in tests/test_vendor_writes_propertyware.py.) As in
tests/test_vendor_writes.py: the replay checks a write body the way the replay models the
vendor (properties it saves, required ones on create) and changes its data, so the re-read after the
write lands the new value in the warehouse; a field the vendor does not accept is refused by Rooftop
before any request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pipelines.cli.write_commands  # noqa: F401 - registers `rooftop write`
from connectors.sdk.replay import ReplayServer
from tests.conftest import WorkspaceFactory
from tests.support.cli import rooftop
from tests.support.vendors.rent_manager import RentManagerApi
from tests.warehouse_checks import rows as query

RM_PASSWORD = "rm12-Pa55word-7c1e"
RENT_MANAGER = """\
name: rm
source:
  connector: rent_manager
  config: {{base_url: "{url}", username: etl, password: "${{RM_PASSWORD}}", location_id: 3, timezone: America/Denver,
            retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
"""




@pytest.fixture
def rent_manager() -> Iterator[tuple[RentManagerApi, ReplayServer]]:
    api = RentManagerApi(username="etl", password=RM_PASSWORD, location_id=3, properties=2, units_per_property=2)
    with ReplayServer(api) as server:
        yield api, server


@pytest.fixture
def rm_root(make_workspace: WorkspaceFactory, rent_manager: tuple[RentManagerApi, ReplayServer]) -> Path:
    root = make_workspace(RENT_MANAGER.format(url=rent_manager[1].url), name="rm")
    (root / ".env").write_text(f"RM_PASSWORD={RM_PASSWORD}\n")
    code, output = rooftop(root, "sync", "rm")
    assert code == 0, output
    return root


def test_rent_manager_tenant_update_is_a_save_and_reaches_the_warehouse(
        rm_root: Path, rent_manager: tuple[RentManagerApi, ReplayServer]) -> None:
    api, server = rent_manager
    tenant = api.records("tenants")[1]
    code, output = rooftop(rm_root, "write", "tenants", f"rent_manager:rm:{tenant['TenantID']}",
                            "--data", '{"LastName": "Delacroix"}')
    assert code == 0, output
    save = next(r for r in server.requests if r.method == "POST" and r.path == "/Tenants")
    assert json.loads(save.body) == [{"TenantID": tenant["TenantID"], "LastName": "Delacroix"}]
    rows = query(rm_root / "wh.duckdb", "SELECT LastName, FirstName FROM rent_manager.tenants "
                           f"WHERE TenantID = {tenant['TenantID']}")
    assert rows == [("Delacroix", tenant["FirstName"])]  # the rest of the tenant is unchanged


def test_rent_manager_unit_create_lands_in_the_warehouse(rm_root: Path,
                                                        rent_manager: tuple[RentManagerApi, ReplayServer]) -> None:
    data = json.dumps({"PropertyID": 2, "Name": "PH1", "UnitTypeID": 3, "SquareFootage": 1450.5})
    code, output = rooftop(rm_root, "write", "units", "--connection", "rm", "--data", data)
    assert code == 0, output
    rows = query(rm_root / "wh.duckdb", "SELECT PropertyID, SquareFootage FROM rent_manager.units WHERE Name = 'PH1'")
    assert rows == [(2, 1450.5)]


@pytest.mark.parametrize(("args", "named"), [
    (("tenants", "1", "--data", '{"Email": "a@example.com"}'), "Email"),  # not a property of the tenant save
    (("units", "1", "--data", '{"IsVacant": true}'), "IsVacant"),  # kept by Rent Manager
    (("leases", "1", "--data", '{"MoveOutDate": "2025-01-01"}'), "leases"),
    (("units", "--data", '{"Name": "9A"}'), "PropertyID, UnitTypeID"),  # required on create
])
def test_rent_manager_refuses_what_it_does_not_accept_before_sending(
        rm_root: Path, rent_manager: tuple[RentManagerApi, ReplayServer], args: tuple[str, ...], named: str) -> None:
    _, server = rent_manager
    before = len(server.requests)
    code, output = rooftop(rm_root, "write", *args, "--connection", "rm")
    assert code == 2, output
    assert named in output and "rent_manager" in output
    assert len(server.requests) == before  # nothing was sent


def test_rent_manager_replay_refuses_a_property_it_does_not_save(
        rent_manager: tuple[RentManagerApi, ReplayServer]) -> None:
    """The replay checks a save, so a connector that sent an undeclared property would fail."""
    _, server = rent_manager
    with httpx.Client(base_url=server.url) as client:
        token = client.post("/Authentication/AuthorizeUser",
                            json={"Username": "etl", "Password": RM_PASSWORD, "LocationID": 3}).json()
        response = client.post("/Tenants", json=[{"TenantID": 1, "Email": "x@example.com"}],
                               headers={"X-RM12Api-ApiToken": token})
    assert response.status_code == 400 and "Email" in response.text
