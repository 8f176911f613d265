"""A write re-reads the streams its resource's declaration names: Entrata's customers live in `leases`.

Entrata's `customers` are no stream of their own: they ride inside each lease. The Entrata
declaration names `leases` as the stream to refresh after a customer update, so the warehouse shows
the new email right after the write, with no sync in between. The Entrata replay on 127.0.0.1 and a
real DuckDB file, driven over HTTP.
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
