"""A write re-reads the streams its resource's declaration names: Entrata's customers live in `leases`.

Entrata's `customers` are no stream of their own: they ride inside each lease. The Entrata
declaration names `leases` as the stream to refresh after a customer update, so the warehouse shows
the new email right after the write, with no sync in between; and where a customer's id sits in a
lease, so a bare customer id (no `?connection=`) is found in the leases a warehouse holds. The
Entrata replay on 127.0.0.1, a real DuckDB file and a real Parquet directory, driven over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from connectors.sdk.replay import ReplayServer
from tests.conftest import WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.support.vendors.entrata import ROOT, EntrataReplay
from tests.test_api import auth, write_tokens
from tests.test_api_writes import wait_for
from tests.warehouse_checks import rows

KEY = "entrata-key-refresh-19"
CONN = """\
name: ent
source: {{connector: entrata, config: {{base_url: "{url}", api_key: "${{ENTRATA_TEST_KEY}}"}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams: [{{name: leases, sync_mode: full_refresh_overwrite}}]
"""

LAKE = CONN.replace("name: ent", "name: lake").replace("{{connector: duckdb, config: {{path: wh.duckdb}}}}",
                                                       "{{connector: parquet, config: {{path: lake}}}}")


@pytest.fixture
def entrata() -> Iterator[tuple[ReplayServer, EntrataReplay]]:
    replay = EntrataReplay(KEY, properties=1, units=2, leases=3, leads=1)
    with ReplayServer(replay) as server:
        yield server, replay


def test_an_entrata_customer_update_is_in_the_leases_table_right_after_the_write(
        make_workspace: WorkspaceFactory, entrata: tuple[ReplayServer, EntrataReplay]) -> None:
    server, replay = entrata
    root = make_workspace(CONN.format(url=server.url + ROOT), "ent")
    with (root / ".env").open("a") as env:
        env.write(f"ENTRATA_TEST_KEY={KEY}\n")
    write_tokens(root)
    code, output = rooftop(root, "sync", "ent")
    assert code == 0, output
    lease = next(iter(replay.leases.values()))[0]
    customer = lease["customers"]["customer"][0]["id"]
    with running_api(root) as url, httpx.Client(base_url=url, timeout=60) as client:
        accepted = client.put(f"/v1/customers/{customer}?connection=ent", headers=auth("write"),
                              json={"email": "ana.new@example.com"})
        assert accepted.status_code == 202, accepted.text
        done = wait_for(client, accepted.json()["write_id"])
        assert done["status"] == "succeeded" and done["error"] is None, done
        log = client.get(f"/v1/writes/{done['write_id']}/log", headers=auth("read")).json()["log"]
        assert log[-1]["response"]["refreshed_sync_id"], log[-1]  # the re-read ran
    (stored,), = rows(root / "wh.duckdb", f"SELECT customers FROM entrata.leases WHERE id = {lease['id']}")
    assert json.loads(str(stored))["customer"][0]["emailAddress"] == "ana.new@example.com"


def test_a_bare_entrata_customer_id_is_found_inside_the_leases_of_each_warehouse(
        make_workspace: WorkspaceFactory, entrata: tuple[ReplayServer, EntrataReplay]) -> None:
    """No `customers` stream: a bare customer id is looked up in each lease's `customers.customer[].id`
    (the declaration's `ids_in`), in a DuckDB file and in a Parquet directory."""
    server, replay = entrata
    root = make_workspace(CONN.format(url=server.url + ROOT), "ent")
    make_workspace(LAKE.format(url=server.url + ROOT), "lake")
    with (root / ".env").open("a") as env:
        env.write(f"ENTRATA_TEST_KEY={KEY}\n")
    write_tokens(root)
    for name in ("ent", "lake"):
        code, output = rooftop(root, "sync", name)
        assert code == 0, output
    lease = list(replay.leases.values())[0][-1]
    customer = lease["customers"]["customer"][-1]["id"]
    with running_api(root) as url, httpx.Client(base_url=url, timeout=60) as client:
        both = client.put(f"/v1/customers/{customer}", headers=auth("write"), json={"email": "x@example.com"})
        assert both.status_code == 409, both.text  # found in the DuckDB leases and in the Parquet ones
        assert "ent, lake" in both.json()["error"], both.text
        nowhere = client.put(f"/v1/customers/{lease['id']}99", headers=auth("write"), json={"email": "x@example.com"})
        assert nowhere.status_code == 404, nowhere.text
        assert not any(r.path.endswith("/customers") for r in server.requests)  # nothing sent
    (root / "connections" / "lake.yaml").unlink()  # now only the DuckDB connection holds it
    with running_api(root) as url, httpx.Client(base_url=url, timeout=60) as client:
        accepted = client.put(f"/v1/customers/{customer}", headers=auth("write"), json={"email": "bare@example.com"})
        assert accepted.status_code == 202 and accepted.json()["connection"] == "ent", accepted.text
        assert wait_for(client, accepted.json()["write_id"])["status"] == "succeeded"
    (stored,), = rows(root / "wh.duckdb", f"SELECT customers FROM entrata.leases WHERE id = {lease['id']}")
    emails = [c["emailAddress"] for c in json.loads(str(stored))["customer"] if c["id"] == customer]
    assert emails == ["bare@example.com"]
