"""Writes under the unified model's names: one `PUT /v1/residents/{id}` body for Buildium and Rent Manager.

A Buildium replay and a Rent Manager replay on 127.0.0.1 (each with its generated records: a
Buildium tenant PUT is a full replacement that needs the address and emails those carry), each
synced by a `model: unified` connection into its own DuckDB file. The same unified body
(`first_name`, `last_name`) goes out as each vendor's native request (`FirstName`, `LastName`, to
its tenant endpoint), and each unified `residents` table shows the new name right after the write.
A unified field the vendor cannot take is refused, or ignored on request, by its unified name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.sdk.replay import ReplayServer
from tests.conftest import WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.support.http_api import TestApi
from tests.support.vendors.buildium import CLIENT_ID as BLD_ID
from tests.support.vendors.buildium import CLIENT_SECRET as BLD_SECRET
from tests.support.vendors.buildium import BuildiumApi
from tests.support.vendors.rent_manager import RentManagerApi
from tests.test_api import auth, write_tokens
from tests.test_api_writes import wait_for
from tests.warehouse_checks import rows

RM_PASSWORD = "rm-unified-write-41"
CONN = """\
name: {name}
model: unified
source: {{connector: {connector}, config: {config}}}
destination: {{connector: duckdb, config: {{path: {name}.duckdb}}}}
streams: [{{name: residents, sync_mode: full_refresh_overwrite}}]
"""


@dataclass
class Vendors:
    bld: ReplayServer
    rm: TestApi
    tenants: dict[str, int]
    """Connection -> the vendor id of the tenant written."""


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    buildium = BuildiumApi(seed=3, properties=1, units_per_property=3)
    rent_manager = RentManagerApi(username="etl", password=RM_PASSWORD, properties=1)
    with ReplayServer(buildium) as bld, TestApi(rent_manager) as rm:
        yield Vendors(bld, rm, {"bld": int(buildium.records["tenants"][0]["Id"]),
                                "rm": int(rent_manager.records("tenants")[0]["TenantID"])})


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, vendors: Vendors) -> Path:
    bld, rm = vendors.bld, vendors.rm
    root = make_workspace(CONN.format(name="bld", connector="buildium", config=(
        f'{{client_id: "{BLD_ID}", client_secret: "${{BLD_SECRET}}", base_url: "{bld.url}"}}')), "bld")
    make_workspace(CONN.format(name="rm", connector="rent_manager", config=(
        f'{{base_url: "{rm.url}", username: etl, password: "${{RM_PASSWORD}}"}}')), "rm")
    with (root / ".env").open("a") as env:
        env.write(f"BLD_SECRET={BLD_SECRET}\nRM_PASSWORD={RM_PASSWORD}\n")
    write_tokens(root)
    for name in ("bld", "rm"):
        code, output = rooftop(root, "sync", name)
        assert code == 0, output
    return root


def _name(root: Path, conn: str, schema: str, resident: int) -> list[tuple[object, ...]]:
    return rows(root / f"{conn}.duckdb",
                f"SELECT first_name, last_name FROM {schema}.residents WHERE source_id = '{resident}'")


def test_one_unified_put_lands_as_each_vendors_native_request_and_in_each_unified_table(
        workspace: Path, vendors: Vendors) -> None:
    bld, rm, tenants = vendors.bld, vendors.rm, vendors.tenants
    body = {"first_name": "Ada", "last_name": "Lovelace"}
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=60) as client:
        # Rooftop's id for Buildium, the vendor id alone for Rent Manager (looked up by `source_id`).
        for target in (f"buildium:bld:{tenants['bld']}", str(tenants["rm"])):
            accepted = client.put(f"/v1/residents/{target}", headers=auth("write"), json=body)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["resource"] == "residents"
            done = wait_for(client, accepted.json()["write_id"])
            assert done["status"] == "succeeded" and done["error"] is None, done
    put = next(r for r in bld.requests if r.method == "PUT")
    assert put.path == f"/v1/leases/tenants/{tenants['bld']}"
    sent = json.loads(put.body)
    assert (sent["FirstName"], sent["LastName"]) == ("Ada", "Lovelace")
    save = next(r for r in rm.requests if r.method == "POST" and r.path.endswith("/Tenants"))
    assert "first_name" not in save.body.decode()
    saved = json.loads(save.body)
    saved = saved[0] if isinstance(saved, list) else saved
    assert (saved["FirstName"], saved["LastName"]) == ("Ada", "Lovelace")
    assert _name(workspace, "bld", "buildium_unified", tenants["bld"]) == [("Ada", "Lovelace")]
    assert _name(workspace, "rm", "rent_manager_unified", tenants["rm"]) == [("Ada", "Lovelace")]


def test_a_unified_field_the_vendor_cannot_take_is_refused_or_ignored_by_its_unified_name(
        workspace: Path, vendors: Vendors) -> None:
    rm, resident = vendors.rm, vendors.tenants["rm"]
    body = {"last_name": "Byron", "phone": "555-0100"}
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=60) as client:
        refused = client.put(f"/v1/residents/rent_manager:rm:{resident}", headers=auth("write"), json=body)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert "phone" in error and "rent_manager" in error and "last_name" in error, error  # unified names
        assert not any(r.method == "POST" and r.path.endswith("/Tenants") for r in rm.requests)
        ignored = client.put(f"/v1/residents/rent_manager:rm:{resident}?ignore_unknown_fields=true",
                             headers=auth("write"), json=body)
        assert ignored.status_code == 202 and ignored.json()["ignored_fields"] == ["phone"], ignored.text
        assert wait_for(client, ignored.json()["write_id"])["status"] == "succeeded"
    assert [row[1] for row in _name(workspace, "rm", "rent_manager_unified", resident)] == ["Byron"]
