"""Write-back to Propertyware through `rooftop write`: its replay on 127.0.0.1 and a DuckDB warehouse.

The replay checks each write as Propertyware's OpenAPI spec describes the request message
(`SaveContact`, `SaveWorkOrder`, `CloseWorkOrder`: required properties, enumerations, types) and
changes its data, so the re-read after the write lands the new value in the warehouse. What
Propertyware does not offer (a tenant create, a work-order update other than the close, a field
outside the message) is refused by Rooftop before any request.
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
from tests.support.vendors.propertyware import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORGANIZATION_ID,
    ROOT,
    PropertywareApi,
    PropertywareData,
    serve,
)
from tests.warehouse_checks import rows as query

PROPERTYWARE = """\
name: pw
source:
  connector: propertyware
  config: {{base_url: "{url}", organization_id: "{org}", client_id: "{client}", client_secret: "{secret}",
            retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""
HEADERS = {"x-propertyware-client-id": CLIENT_ID, "x-propertyware-client-secret": CLIENT_SECRET,
           "x-propertyware-system-id": ORGANIZATION_ID}


@pytest.fixture
def propertyware() -> Iterator[tuple[ReplayServer, PropertywareApi]]:
    with serve(PropertywareData(seed=3, buildings=2)) as running:
        yield running


@pytest.fixture
def pw_root(make_workspace: WorkspaceFactory, propertyware: tuple[ReplayServer, PropertywareApi]) -> Path:
    server, _ = propertyware
    root = make_workspace(PROPERTYWARE.format(url=server.url + ROOT, org=ORGANIZATION_ID, client=CLIENT_ID,
                                              secret=CLIENT_SECRET), name="pw")
    code, output = rooftop(root, "sync", "pw")
    assert code == 0, output
    return root


def _tenant(api: PropertywareApi) -> dict[str, object]:
    return next(r for r in api.data.records["contacts"] if r["type"] == "TENANT")


def test_tenant_phone_and_city_update_is_a_full_save_contact_and_reaches_the_warehouse(
        pw_root: Path, propertyware: tuple[ReplayServer, PropertywareApi]) -> None:
    _, api = propertyware
    tenant = _tenant(api)
    data = json.dumps({"mobilePhone": "918-555-0199", "address.city": "Broken Arrow"})
    code, output = rooftop(pw_root, "write", "tenants", f"propertyware:pw:{tenant['id']}", "--data", data)
    assert code == 0, output
    put = next(r for r in api.writes if r.method == "PUT")
    assert put.path == f"{ROOT}/contacts/{tenant['id']}"
    body = json.loads(put.body)
    # SaveContact requires both names: they travel with the change, read from the contact first.
    assert (body["firstName"], body["lastName"]) == (tenant["firstName"], tenant["lastName"])
    assert body["address"]["city"] == "Broken Arrow" and body["address"]["country"] == "United States"
    rows = query(pw_root / "wh.duckdb",
                 f"SELECT mobilePhone, email, address FROM propertyware.tenants WHERE id = {tenant['id']}")
    assert len(rows) == 1
    phone, email, address = rows[0]
    assert phone == "918-555-0199" and email == tenant["email"]  # the rest of the tenant is unchanged
    assert json.loads(address)["city"] == "Broken Arrow"


def test_work_order_create_lands_in_the_warehouse(pw_root: Path,
                                                 propertyware: tuple[ReplayServer, PropertywareApi]) -> None:
    _, api = propertyware
    building = api.data.records["buildings"][1]["id"]
    data = json.dumps({"buildingID": building, "description": "Replace smoke detector", "priority": "HIGH",
                       "scheduledEndDate": "2025-07-01", "costEstimate": 45.5})
    code, output = rooftop(pw_root, "write", "work_orders", "--connection", "pw", "--data", data)
    assert code == 0, output
    post = next(r for r in api.writes if r.method == "POST")
    assert post.path == f"{ROOT}/workorders" and json.loads(post.body) == json.loads(data)
    rows = query(pw_root / "wh.duckdb", "SELECT buildingID, priority, status FROM propertyware.work_orders "
                                        "WHERE description = 'Replace smoke detector'")
    assert rows == [(building, "HIGH", "Open")]


def test_work_order_close_reaches_the_warehouse(pw_root: Path,
                                               propertyware: tuple[ReplayServer, PropertywareApi]) -> None:
    _, api = propertyware
    order = next(r for r in api.data.records["workorders"] if r["status"] == "Open")
    data = json.dumps({"status": "Closed", "completedDate": "2025-06-02", "comments": "washer replaced"})
    code, output = rooftop(pw_root, "write", "work_orders", str(order["id"]), "--connection", "pw", "--data", data)
    assert code == 0, output
    put = next(r for r in api.writes if r.method == "PUT")
    assert put.path == f"{ROOT}/workorders/closeworkorder/{order['id']}"
    assert json.loads(put.body) == {"completedDate": "2025-06-02", "comments": "washer replaced", "timeCardEntry": []}
    rows = query(pw_root / "wh.duckdb", "SELECT status, CAST(completedDate AS VARCHAR) FROM propertyware.work_orders "
                                        f"WHERE id = {order['id']}")
    assert rows == [("Closed", "2025-06-02")]


@pytest.mark.parametrize(("args", "named"), [
    (("tenants", "--data", '{"firstName": "Ana", "lastName": "Ruiz"}'), "create on tenants"),
    (("tenants", "1001", "--data", '{"notes": "x"}'), "notes"),
    (("tenants", "1001", "--data", '{"category": "VIP"}'), "category"),  # SaveContact: create only
    (("work_orders", "--data", '{"description": "x"}'), "buildingID"),  # required on create
    (("work_orders", "1001", "--data", '{"priority": "LOW"}'), "priority"),  # only the close updates
    (("work_orders", "1001", "--data", '{"status": "Open"}'), "status"),  # a close, or nothing
])
def test_propertyware_refuses_what_it_does_not_accept_before_sending(
        pw_root: Path, propertyware: tuple[ReplayServer, PropertywareApi], args: tuple[str, ...], named: str) -> None:
    _, api = propertyware
    code, output = rooftop(pw_root, "write", *args, "--connection", "pw")
    assert code == 2, output
    assert named in output and "propertyware" in output
    assert api.writes == []  # nothing was sent


@pytest.mark.parametrize(("method", "path", "body", "named"), [
    ("PUT", "/contacts/{contact}", {"firstName": "Ana"}, "lastName"),
    ("PUT", "/contacts/{contact}", {"firstName": "Ana", "lastName": "Ruiz", "gender": "F"}, "gender"),
    ("PUT", "/workorders/closeworkorder/{order}", {"completedDate": "2025-06-02"}, "timeCardEntry"),
    ("POST", "/workorders", {"buildingID": 1, "description": "x"}, "buildingID"),
])
def test_propertyware_replay_refuses_what_the_spec_refuses(
        propertyware: tuple[ReplayServer, PropertywareApi], method: str, path: str, body: dict[str, object],
        named: str) -> None:
    """The replay checks a request message as the spec describes it, so a connector sending a partial
    SaveContact or a close without its time-card list would fail here."""
    server, api = propertyware
    ids = {"contact": _tenant(api)["id"], "order": api.data.records["workorders"][0]["id"]}
    response = httpx.request(method, server.url + ROOT + path.format(**ids), json=body, headers=HEADERS)
    assert response.status_code == 400 and named in response.json()["userMessage"]
