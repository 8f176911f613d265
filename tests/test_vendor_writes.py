"""Write-back to the vendor connectors through `rooftop write`: the vendor's replay on 127.0.0.1 and DuckDB.

Each replay checks a write body the way the vendor's spec says it does (required properties of the
PUT/POST message, enums) and changes its data, so the re-read after the write lands the new value
in the warehouse. A field the vendor does not accept is refused by Rooftop before any request.
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
from tests.support.vendors.buildium import CLIENT_ID, CLIENT_SECRET, BuildiumApi
from tests.warehouse_checks import rows as query

BUILDIUM = """\
name: bld
source:
  connector: buildium
  config: {{client_id: "{client_id}", client_secret: "{secret}", base_url: "{url}",
            retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""




@pytest.fixture
def buildium() -> Iterator[tuple[BuildiumApi, ReplayServer]]:
    api = BuildiumApi(seed=3, properties=2, units_per_property=3)
    with ReplayServer(api) as server:
        yield api, server


@pytest.fixture
def bld_root(make_workspace: WorkspaceFactory, buildium: tuple[BuildiumApi, ReplayServer]) -> Path:
    root = make_workspace(BUILDIUM.format(client_id=CLIENT_ID, secret=CLIENT_SECRET, url=buildium[1].url), name="bld")
    code, output = rooftop(root, "sync", "bld")
    assert code == 0, output
    return root


def test_buildium_tenant_phone_and_comment_update_reaches_the_warehouse(
        bld_root: Path, buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    api, server = buildium
    tenant = api.records["tenants"][0]
    email = tenant["Email"]
    data = json.dumps({"PhoneNumbers.Mobile": "(512) 555-0199", "Comment": "prefers email"})
    code, output = rooftop(bld_root, "write", "tenants", f"buildium:bld:{tenant['Id']}", "--data", data)
    assert code == 0, output
    put = next(r for r in server.requests if r.method == "PUT")
    body = json.loads(put.body)
    # Buildium's PUT replaces the tenant: the required name and address travel with the change.
    assert body["FirstName"] == tenant["FirstName"] and body["Address"]["AddressLine1"]
    assert body["PhoneNumbers"] == {"Mobile": "(512) 555-0199"}
    rows = query(bld_root / "wh.duckdb",
                 f"SELECT PhoneNumbers, Comment, Email FROM buildium.tenants WHERE Id = {tenant['Id']}")
    assert len(rows) == 1
    phones, comment, stored_email = rows[0]
    assert json.loads(phones) == [{"Number": "(512) 555-0199", "Type": "Cell"}]
    assert comment == "prefers email" and stored_email == email  # the rest of the tenant is unchanged


def test_buildium_work_order_update_keeps_its_line_items(bld_root: Path,
                                                         buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    api, _ = buildium
    order = api.records["work_orders"][0]
    api.update("work_orders", order["Id"], LineItems=[{"GlAccountId": 5, "Quantity": 1.0, "Memo": "part",
                                                       "UnitPrice": 40.0}])
    code, output = rooftop(bld_root, "write", "work_orders", str(order["Id"]), "--connection", "bld",
                            "--data", '{"WorkDetails": "replaced the washer", "EntryAllowed": "No"}')
    assert code == 0, output
    assert api.records["work_orders"][0]["LineItems"] == [{"GlAccountId": 5, "Quantity": 1.0, "Memo": "part",
                                                           "UnitPrice": 40.0}]
    rows = query(bld_root / "wh.duckdb",
                 f"SELECT WorkDetails, EntryAllowed FROM buildium.work_orders WHERE Id = {order['Id']}")
    assert rows == [("replaced the washer", "No")]


@pytest.mark.parametrize(("args", "named"), [
    (("work_orders", "1", "--data", '{"Status": "Done"}'), "Status"),  # not a value of the task's enumeration
    (("tenants", "1", "--data", '{"notes": "x"}'), "notes"),
    (("units", "--data", '{"UnitNumber": "9A"}'), "create on units"),
])
def test_buildium_refuses_what_it_does_not_accept_before_sending(
        bld_root: Path, buildium: tuple[BuildiumApi, ReplayServer], args: tuple[str, ...], named: str) -> None:
    _, server = buildium
    before = len(server.requests)
    code, output = rooftop(bld_root, "write", *args, "--connection", "bld")
    assert code == 2, output
    assert named in output and "buildium" in output
    assert len(server.requests) == before  # nothing was sent


def test_buildium_replay_refuses_a_put_without_the_required_properties(
        buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    """The replay checks a body as Buildium's spec says, so a connector that sent a partial PUT would fail."""
    api, server = buildium
    tenant = api.records["tenants"][0]
    response = httpx.put(f"{server.url}/v1/leases/tenants/{tenant['Id']}", json={"Comment": "x"},
                         headers={"x-buildium-client-id": CLIENT_ID, "x-buildium-client-secret": CLIENT_SECRET})
    assert response.status_code == 400 and "FirstName" in response.text


def test_buildium_work_order_create_on_an_existing_task(bld_root: Path,
                                                        buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    api, server = buildium
    task_id = api.records["work_orders"][0]["Task"]["Id"]
    data = json.dumps({"TaskId": task_id, "EntryAllowed": "Yes", "VendorId": 77, "WorkDetails": "second visit"})
    code, output = rooftop(bld_root, "write", "work_orders", "--connection", "bld", "--data", data)
    assert code == 0, output
    post = next(r for r in server.requests if r.method == "POST")
    assert json.loads(post.body) == json.loads(data)
    assert query(bld_root / "wh.duckdb",
                 "SELECT count(*) FROM buildium.work_orders WHERE WorkDetails = 'second visit'") == [(1,)]


def test_buildium_work_order_close_is_a_put_of_its_task_and_reaches_the_warehouse(
        bld_root: Path, buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    api, server = buildium
    order = next(o for o in api.records["work_orders"] if o["Status"] != "Closed")
    task = api.tasks.tasks[order["Task"]["Id"]]
    code, output = rooftop(bld_root, "write", "work_orders", f"buildium:bld:{order['Id']}",
                            "--data", '{"Status": "Closed"}')
    assert code == 0, output
    puts = [r for r in server.requests if r.method == "PUT"]
    assert [r.path for r in puts] == [f"/v1/tasks/residentrequests/{task['Id']}"]  # not the work order's PUT
    # The task PUT replaces the task: what the change does not touch travels with it, read first.
    assert json.loads(puts[0].body) == {"Title": order["Title"], "TaskStatus": "Closed", "Priority": "Normal",
                                        "DueDate": order["DueDate"], "AssignedToUserId": 12, "CategoryId": 3}
    rows = query(bld_root / "wh.duckdb", f"SELECT Status, Task FROM buildium.work_orders WHERE Id = {order['Id']}")
    assert len(rows) == 1 and rows[0][0] == "Closed" and rows[0][1]["Status"] == "Closed"  # Task: a struct


def test_buildium_work_order_update_of_its_own_and_its_tasks_fields(
        bld_root: Path, buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    api, server = buildium
    order = api.records["work_orders"][1]
    data = json.dumps({"Priority": "High", "DueDate": "2025-07-04", "VendorNotes": "bring a ladder"})
    code, output = rooftop(bld_root, "write", "work_orders", str(order["Id"]), "--connection", "bld", "--data", data)
    assert code == 0, output
    paths = [r.path for r in server.requests if r.method == "PUT"]
    assert paths == [f"/v1/workorders/{order['Id']}", f"/v1/tasks/residentrequests/{order['Task']['Id']}"]
    rows = query(bld_root / "wh.duckdb", "SELECT Priority, CAST(DueDate AS VARCHAR), VendorNotes FROM "
                                         f"buildium.work_orders WHERE Id = {order['Id']}")
    assert rows == [("High", "2025-07-04", "bring a ladder")]


def test_buildium_replay_refuses_a_task_put_without_its_required_properties(
        buildium: tuple[BuildiumApi, ReplayServer]) -> None:
    """A task PUT replaces the task: the replay refuses one without Title/TaskStatus/Priority, as Buildium does."""
    api, server = buildium
    task_id = api.records["work_orders"][0]["Task"]["Id"]
    headers = {"x-buildium-client-id": CLIENT_ID, "x-buildium-client-secret": CLIENT_SECRET}
    partial = httpx.put(f"{server.url}/v1/tasks/residentrequests/{task_id}", json={"TaskStatus": "Closed"},
                        headers=headers)
    wrong_type = httpx.get(f"{server.url}/v1/tasks/todorequests/{task_id}", headers=headers)
    assert partial.status_code == 400 and "Priority" in partial.text and "Title" in partial.text
    assert wrong_type.status_code == 404  # a resident request is not a to-do
