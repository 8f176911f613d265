"""A bare vendor id (`PUT /v1/residents/45`, no `?connection=`) is looked up in every warehouse.

Three sandbox APIs with 30, 40 and 50 residents (ids 1..n) feed three connections that land in a
real DuckDB file, a real Postgres database and a real Parquet directory. An id all three hold is a
409 naming the three; one only two hold, a 409 naming those two; one only the Parquet connection
holds is written there; one nobody holds is a 404. Driven over HTTP against the real API server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from destinations.duckdb.config import DuckDBConfig
from destinations.duckdb.destination import DuckDBDestination
from destinations.parquet.destination import read_table
from protocol.errors import WarehouseLocked
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.test_api import auth, write_tokens
from tests.test_api_writes import wait_for

CONN = """\
name: {name}
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}
destination: {destination}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
"""


@pytest.fixture
def servers() -> Iterator[dict[str, SandboxServer]]:
    sizes = {"dk": 30, "pg": 40, "pq": 50}
    started = {name: SandboxServer(SandboxDataset(seed=7, scale=1, counts={"residents": n}), api_key=API_KEY)
               for name, n in sizes.items()}
    for server in started.values():
        server.__enter__()
    try:
        yield started
    finally:
        for server in started.values():
            server.__exit__(None, None, None)


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, servers: dict[str, SandboxServer], postgres_url: str) -> Path:
    destinations = {"dk": "{connector: duckdb, config: {path: dk.duckdb}}",
                    "pg": f'{{connector: postgres, config: {{url: "{postgres_url}"}}}}',
                    "pq": "{connector: parquet, config: {path: lake}}"}
    root = Path()
    for name, destination in destinations.items():
        root = make_workspace(CONN.format(name=name, url=servers[name].url, destination=destination), name)
    write_tokens(root)
    for name in destinations:
        code, output = rooftop(root, "sync", name)
        assert code == 0, output
    return root


def _puts(servers: dict[str, SandboxServer]) -> list[str]:
    return [name for name, server in servers.items() for _, method, _, _ in server.request_log if method == "PUT"]


def test_a_bare_vendor_id_goes_to_the_one_warehouse_that_holds_it(workspace: Path,
                                                                   servers: dict[str, SandboxServer]) -> None:
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=60) as client:
        everywhere = client.put("/v1/residents/3", headers=auth("write"), json={"phone": "555-0103"})
        assert everywhere.status_code == 409, everywhere.text
        assert "dk, pg, pq" in everywhere.json()["error"], everywhere.text

        two = client.put("/v1/residents/35", headers=auth("write"), json={"phone": "555-0135"})
        assert two.status_code == 409, two.text
        assert "pg, pq" in two.json()["error"] and "dk" not in two.json()["error"], two.text

        nowhere = client.put("/v1/residents/999", headers=auth("write"), json={"phone": "555-0999"})
        assert nowhere.status_code == 404, nowhere.text
        assert "'999'" in nowhere.json()["error"], nowhere.text
        assert _puts(servers) == []  # refused before anything was sent

        one = client.put("/v1/residents/45", headers=auth("write"), json={"phone": "555-0145"})
        assert one.status_code == 202, one.text
        assert one.json()["connection"] == "pq" and one.json()["record_id"] == "45"
        assert wait_for(client, one.json()["write_id"])["status"] == "succeeded"
    assert _puts(servers) == ["pq"]
    landed = read_table(workspace / "lake", "sandbox", "residents")
    assert landed is not None
    assert [r["phone"] for r in landed.to_pylist() if r["id"] == 45] == ["555-0145"]


def test_the_duckdb_lookup_reads_beside_another_process_without_taking_the_write_lock(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA s; CREATE TABLE s.residents (id BIGINT); INSERT INTO s.residents VALUES (7)")
    # Another process reads the file (a notebook, a BI tool): a writer could not open it now.
    reader = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], "
                               "read_only=True); print('open', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        destination = DuckDBDestination(DuckDBConfig(path=str(path), lock_timeout_seconds=0.5), root=tmp_path)
        with pytest.raises(WarehouseLocked):
            destination.__enter__()  # the writer's way in is blocked ...
        assert destination.record_exists("s", "residents", "id", "7")  # ... the lookup's is not
        assert not destination.record_exists("s", "residents", "id", "8")
        assert not destination.record_exists("s", "missing", "id", "7")
    finally:
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait()
