"""A value outside a field's declared allowed values is a 400 before anything is queued, recorded or sent.

Buildium's work-order `Status` and `Priority` (its task's enumerations), Propertyware's work-order
update (a close: `status` must be `Closed`) and its contact's `gender`: each is declared with its
allowed values, so `PUT /v1/...` answers 400 naming the field, the value, the values allowed and the
system, `_rooftop.writes` has no row, and the vendor's replay on 127.0.0.1 sees no write request.
The same holds under the unified names (`work_orders.status` on a `model: unified` Buildium
connection), and an allowed value still goes through. Real API server, real DuckDB files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.sdk.replay import ReplayServer
from protocol.errors import ConfigError
from protocol.writes import FieldType, ResourceWrites, WriteDeclaration, WriteField, WriteOperation, validate_write
from tests.conftest import WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.support.vendors.buildium import CLIENT_ID as BLD_ID
from tests.support.vendors.buildium import CLIENT_SECRET as BLD_SECRET
from tests.support.vendors.buildium import BuildiumApi
from tests.support.vendors.propertyware import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORGANIZATION_ID,
    ROOT,
    PropertywareApi,
    PropertywareData,
    serve,
)
from tests.test_api import auth, write_tokens
from tests.test_api_writes import wait_for
from tests.warehouse_checks import rows

BUILDIUM = """\
name: {name}
model: {model}
source:
  connector: buildium
  config: {{client_id: "{client_id}", client_secret: "{secret}", base_url: "{url}"}}
destination: {{connector: duckdb, config: {{path: {name}.duckdb}}}}
streams: [{{name: work_orders, sync_mode: full_refresh_overwrite}}]
"""
PROPERTYWARE = """\
name: pw
source:
  connector: propertyware
  config: {{base_url: "{url}", organization_id: "{org}", client_id: "{client}", client_secret: "{secret}"}}
destination: {{connector: duckdb, config: {{path: pw.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: full_refresh_overwrite}}
  - {{name: work_orders, sync_mode: full_refresh_overwrite}}
"""


@dataclass
class Vendors:
    buildium: BuildiumApi
    bld: ReplayServer
    pw_server: ReplayServer
    pw: PropertywareApi

    def write_requests(self) -> list[str]:
        """Every request of either replay that was not a read."""
        buildium = [f"{r.method} {r.path}" for r in self.bld.requests if r.method != "GET"]
        return buildium + [f"{r.method} {r.path}" for r in self.pw.writes if r.method != "GET"]


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    buildium = BuildiumApi(seed=3, properties=1, units_per_property=3)
    with ReplayServer(buildium) as bld, serve(PropertywareData(seed=3, buildings=1)) as (pw_server, pw):
        yield Vendors(buildium, bld, pw_server, pw)


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, vendors: Vendors) -> Path:
    root = make_workspace(PROPERTYWARE.format(url=vendors.pw_server.url + ROOT, org=ORGANIZATION_ID,
                                              client=CLIENT_ID, secret=CLIENT_SECRET), "pw")
    for name, model in (("bld", "native"), ("bldu", "unified")):
        make_workspace(BUILDIUM.format(name=name, model=model, client_id=BLD_ID, secret=BLD_SECRET,
                                       url=vendors.bld.url), name)
    write_tokens(root)
    for name in ("bld", "bldu", "pw"):
        code, output = rooftop(root, "sync", name)
        assert code == 0, output
    return root


def test_a_value_outside_the_allowed_ones_is_a_400_with_nothing_recorded_or_sent(
        workspace: Path, vendors: Vendors) -> None:
    order = next(o for o in vendors.buildium.records["work_orders"] if o["Status"] != "Closed")
    pw_order = next(r for r in vendors.pw.data.records["workorders"] if r["status"] == "Open")
    contact = next(r for r in vendors.pw.data.records["contacts"] if r["type"] == "TENANT")
    refused = [  # (path, body, what the error names); no id: a create
        (f"/v1/work_orders/{order['Id']}?connection=bld", {"Status": "Done"},
         ("work_orders.Status", "'Done'", "'InProgress'", "'Closed'", "buildium")),
        (f"/v1/work_orders/buildium:bld:{order['Id']}", {"Priority": "Urgent", "Title": "x"},
         ("work_orders.Priority", "'Urgent'", "'Low', 'Normal', 'High'", "buildium")),
        (f"/v1/work_orders/buildium:bldu:{order['Id']}", {"status": "Done"},  # the unified name
         ("work_orders.status", "'Done'", "'Closed'", "buildium")),
        (f"/v1/work_orders/{pw_order['id']}?connection=pw", {"status": "Open"},
         ("work_orders.status", "'Open'", "'Closed'", "propertyware")),
        (f"/v1/work_orders/{pw_order['id']}?connection=pw", {"comments": "no status"},
         ("status", "propertyware", "on update")),  # the only update is a close: status is required
        (f"/v1/tenants/{contact['id']}?connection=pw", {"gender": "F"},
         ("tenants.gender", "'F'", "'FEMALE'", "propertyware")),
        ("/v1/work_orders?connection=pw", {"buildingID": pw_order["buildingID"], "priority": "URGENT"},  # a create
         ("work_orders.priority", "'URGENT'", "'HIGH', 'MEDIUM', 'LOW'", "propertyware")),
    ]
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=60) as client:
        for path, body, named in refused:
            reply = client.request("POST" if path.startswith("/v1/work_orders?") else "PUT", path,
                                   headers=auth("write"), json=body)
            assert reply.status_code == 400, (path, reply.text)
            error = reply.json()["error"]
            assert all(part in error for part in named), (named, error)
        assert client.get("/v1/writes", headers=auth("read")).json()["writes"] == []  # nothing recorded
        assert vendors.write_requests() == []  # nothing sent

        # An allowed value goes through, under the unified name too.
        closed = client.put(f"/v1/work_orders/buildium:bldu:{order['Id']}", headers=auth("write"),
                            json={"status": "Closed"})
        assert closed.status_code == 202, closed.text
        done = wait_for(client, closed.json()["write_id"])
        assert done["status"] == "succeeded" and done["error"] is None, done
    assert rows(workspace / "bldu.duckdb", "SELECT status FROM buildium_unified.work_orders "
                                           f"WHERE source_id = '{order['Id']}'") == [("Closed",)]


def test_a_field_with_allowed_values_cannot_be_cleared_unless_null_is_one_of_them() -> None:
    fields = {"level": WriteField(FieldType.INTEGER, choices=(0, 1)),
              "note": WriteField(FieldType.STRING, choices=("a", None))}
    declaration = WriteDeclaration("pms", {"tasks": ResourceWrites({WriteOperation.UPDATE: fields})})
    cleared = validate_write(declaration, "tasks", "update", {"level": 1, "note": None})
    assert cleared.payload == {"level": 1, "note": None}
    with pytest.raises(ConfigError, match=r"tasks.level: pms accepts only 0, 1, got None"):
        validate_write(declaration, "tasks", "update", {"level": None})
