"""Write-back to Entrata and Rentvine through `rooftop write`: each vendor's replay on 127.0.0.1 and DuckDB.

Entrata writes over the RPC envelope it reads with (`updateCustomers` r1 at `/customers`); Rentvine
POSTs a record wrapped under its type. Each replay checks a body the way the vendor does and changes
its data, so a re-read lands the new value in the warehouse: right after the write for Rentvine's
`tenants`; at the next `leases` sync for Entrata, whose customers ride inside its leases. A field the
vendor does not take is refused by Rooftop before any request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import pipelines.cli.write_commands  # noqa: F401 - registers `rooftop write`
from connectors.sdk.replay import ReplayServer
from tests.conftest import WorkspaceFactory
from tests.support.cli import rooftop
from tests.support.vendors.entrata import ROOT as ENTRATA_ROOT
from tests.support.vendors.entrata import EntrataReplay
from tests.support.vendors.rentvine import ACCESS_KEY, ROOT, SECRET, RentvineApi, RentvineData, serve
from tests.warehouse_checks import rows as query

RENTVINE = """\
name: rv
source:
  connector: rentvine
  config: {{base_url: "{url}", access_key: "{key}", secret: "{secret}", retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: incremental_deduped}}
"""
ENTRATA_KEY = "entrata-key-5d1e"
ENTRATA = """\
name: ent
source:
  connector: entrata
  config: {{base_url: "{url}", api_key: "{key}", retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: full_refresh_overwrite}}
"""




@pytest.fixture
def rentvine() -> Iterator[tuple[ReplayServer, RentvineApi]]:
    with serve(RentvineData(seed=3, properties=2)) as running:
        yield running


@pytest.fixture
def rv_root(make_workspace: WorkspaceFactory, rentvine: tuple[ReplayServer, RentvineApi]) -> Path:
    server, _ = rentvine
    root = make_workspace(RENTVINE.format(url=server.url + ROOT, key=ACCESS_KEY, secret=SECRET), name="rv")
    code, output = rooftop(root, "sync", "rv")
    assert code == 0, output
    return root


def test_rentvine_tenant_name_update_reaches_the_warehouse(
        rv_root: Path, rentvine: tuple[ReplayServer, RentvineApi]) -> None:
    server, api = rentvine
    tenant = api.data.records["tenants"][0]
    email = tenant["email"]
    code, output = rooftop(rv_root, "write", "tenants", f"rentvine:rv:{tenant['contactID']}",
                            "--data", '{"lastName": "Okafor", "middleName": "J"}')
    assert code == 0, output
    post = next(r for r in server.requests if r.method == "POST")
    assert post.path == f"{ROOT}/tenants/{tenant['contactID']}"
    assert json.loads(post.body) == {"contact": {"lastName": "Okafor", "middleName": "J"}}
    rows = query(rv_root / "wh.duckdb", "SELECT lastName, middleName, name, email FROM rentvine.tenants "
                           f"WHERE contactID = {tenant['contactID']}")
    assert rows == [("Okafor", "J", f"{tenant['firstName']} Okafor", email)]


@pytest.mark.parametrize(("args", "named"), [
    (("tenants", "1", "--data", '{"email": "new@example.com"}'), "email"),  # its own endpoint at Rentvine
    (("tenants", "--data", '{"firstName": "Ana", "lastName": "Vine"}'), "create on tenants"),
    (("work_orders", "1", "--data", '{"description": "x"}'), "work_orders"),
])
def test_rentvine_refuses_what_it_does_not_accept_before_sending(
        rv_root: Path, rentvine: tuple[ReplayServer, RentvineApi], args: tuple[str, ...], named: str) -> None:
    server, _ = rentvine
    before = len(server.requests)
    code, output = rooftop(rv_root, "write", *args, "--connection", "rv")
    assert code == 2, output
    assert named in output and "rentvine" in output
    assert len(server.requests) == before  # nothing was sent


def test_rentvine_replay_refuses_an_unwrapped_body_or_an_unknown_field(
        rentvine: tuple[ReplayServer, RentvineApi]) -> None:
    """The replay checks a body, so a connector sending it bare or with a stray field would fail."""
    server, api = rentvine
    url = f"{server.url}{ROOT}/tenants/{api.data.records['tenants'][0]['contactID']}"
    auth = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{SECRET}".encode()).decode()
    bare = httpx.post(url, json={"lastName": "X"}, headers={"Authorization": auth})
    stray = httpx.post(url, json={"contact": {"email": "x@example.com"}}, headers={"Authorization": auth})
    assert bare.status_code == 400 and "contact" in bare.text
    assert stray.status_code == 400 and "email" in stray.text


@pytest.fixture
def entrata() -> Iterator[tuple[ReplayServer, EntrataReplay]]:
    replay = EntrataReplay(ENTRATA_KEY, properties=1, units=2, leases=3, leads=1)
    with ReplayServer(replay) as server:
        yield server, replay


@pytest.fixture
def ent_root(make_workspace: WorkspaceFactory, entrata: tuple[ReplayServer, EntrataReplay]) -> Path:
    server, _ = entrata
    root = make_workspace(ENTRATA.format(url=server.url + ENTRATA_ROOT, key=ENTRATA_KEY), name="ent")
    code, output = rooftop(root, "sync", "ent")
    assert code == 0, output
    return root


def _lease_customer(root: Path, lease_id: int) -> dict[str, Any]:
    (customers,), = query(root / "wh.duckdb", f"SELECT customers FROM entrata.leases WHERE id = {lease_id}")
    first: dict[str, Any] = json.loads(customers)["customer"][0]
    return first


def test_entrata_customer_update_is_one_update_customers_call_and_lands_with_the_leases(
        ent_root: Path, entrata: tuple[ReplayServer, EntrataReplay]) -> None:
    server, replay = entrata
    lease = next(iter(replay.leases.values()))[0]
    customer_id = lease["customers"]["customer"][0]["id"]
    data = json.dumps({"email": "ana.new@example.com", "lastName": "Okafor", "birthDate": "1990-04-02"})
    code, output = rooftop(ent_root, "write", "customers", str(customer_id), "--connection", "ent", "--data", data)
    assert code == 0, output
    call = json.loads(next(r for r in server.requests if r.path.endswith("/customers")).body)
    assert call["method"] == {"name": "updateCustomers", "version": "r1",
                              "params": {"id": customer_id, "email": "ana.new@example.com", "lastName": "Okafor",
                                         "birthDate": "04/02/1990"}}  # Entrata's dates are MM/DD/YYYY
    # No `customers` stream to re-read: the change lands with the next sync of the leases that carry it.
    code, output = rooftop(ent_root, "sync", "ent")
    assert code == 0, output
    stored = _lease_customer(ent_root, lease["id"])
    assert (stored["emailAddress"], stored["lastName"]) == ("ana.new@example.com", "Okafor")
    assert stored["firstName"] == lease["customers"]["customer"][0]["firstName"]  # the rest is unchanged


@pytest.mark.parametrize(("args", "named"), [
    (("customers", "1", "--data", '{"phoneNumber": "5551234"}'), "phoneNumber"),  # not declared: unconfirmed
    (("leases", "1", "--data", '{"moveOutDate": "2025-01-31"}'), "leases"),
    (("customers", "--data", '{"firstName": "Ana"}'), "create on customers"),
])
def test_entrata_refuses_what_it_does_not_accept_before_sending(
        ent_root: Path, entrata: tuple[ReplayServer, EntrataReplay], args: tuple[str, ...], named: str) -> None:
    server, _ = entrata
    before = len(server.requests)
    code, output = rooftop(ent_root, "write", *args, "--connection", "ent")
    assert code == 2, output
    assert named in output and "entrata" in output
    assert len(server.requests) == before  # nothing was sent


def test_entrata_refusal_inside_a_200_fails_the_write(ent_root: Path,
                                                        entrata: tuple[ReplayServer, EntrataReplay]) -> None:
    """Entrata answers a refused call with 200 and `response.error`: the write fails, naming the call."""
    code, output = rooftop(ent_root, "write", "customers", "424242", "--connection", "ent",
                            "--data", '{"firstName": "Ana"}')
    assert code == 2, output
    assert "updateCustomers" in output and "424242" in output and ENTRATA_KEY not in output
