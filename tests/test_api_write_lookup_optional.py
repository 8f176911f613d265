"""`record_exists` is optional: a destination without it is still a Destination, and a bare id asks for ?connection=.

A third-party destination written before the lookup existed (tests/support/destination_without_lookup.py:
DuckDB underneath, no `record_exists`) lands a sandbox connection's residents beside a plain DuckDB
connection. A bare vendor id that connection could hold is a 400 naming it and asking for
`?connection=` (nothing sent); with `?connection=` the write goes through. Over HTTP, real sandbox
servers on 127.0.0.1, real DuckDB files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from destinations.duckdb import DuckDBConfig, DuckDBDestination
from protocol.types import Destination, RecordLookup
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.support.destination_without_lookup import DuckDBWithoutLookup
from tests.test_api import auth, write_tokens
from tests.test_api_writes import wait_for
from tests.warehouse_checks import rows

CONN = """\
name: {name}
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}
destination: {{connector: "{destination}", config: {{path: {name}.duckdb}}}}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
"""
OLD = "tests.support.destination_without_lookup:DuckDBWithoutLookup"


def test_a_destination_without_record_exists_is_still_a_destination(tmp_path: Path) -> None:
    old = DuckDBWithoutLookup(DuckDBConfig(path="x.duckdb"), root=tmp_path)
    assert isinstance(old, Destination) and not isinstance(old, RecordLookup)
    assert isinstance(DuckDBDestination(DuckDBConfig(path="x.duckdb"), root=tmp_path), RecordLookup)


@pytest.fixture
def servers() -> Iterator[dict[str, SandboxServer]]:
    with SandboxServer(SandboxDataset(seed=7, scale=1, counts={"residents": 20}), api_key=API_KEY) as new, \
            SandboxServer(SandboxDataset(seed=7, scale=1, counts={"residents": 10}), api_key=API_KEY) as old:
        yield {"dk": new, "old": old}


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, servers: dict[str, SandboxServer]) -> Path:
    root = make_workspace(CONN.format(name="dk", url=servers["dk"].url, destination="duckdb"), "dk")
    make_workspace(CONN.format(name="old", url=servers["old"].url, destination=OLD), "old")
    write_tokens(root)
    for name in ("dk", "old"):
        code, output = rooftop(root, "sync", name)
        assert code == 0, output
    return root


def _puts(servers: dict[str, SandboxServer]) -> list[str]:
    return [name for name, server in servers.items() for _, method, _, _ in server.request_log if method == "PUT"]


def test_a_bare_id_a_destination_cannot_look_up_asks_for_the_connection(
        workspace: Path, servers: dict[str, SandboxServer]) -> None:
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=60) as client:
        bare = client.put("/v1/residents/15", headers=auth("write"), json={"phone": "555-0115"})
        assert bare.status_code == 400, bare.text
        error = bare.json()["error"]
        assert "'old'" in error and "cannot look ids up" in error and "?connection=" in error, error
        assert _puts(servers) == []  # nothing was sent, not even to dk, which holds 15

        named = client.put("/v1/residents/5?connection=old", headers=auth("write"), json={"phone": "555-0105"})
        assert named.status_code == 202, named.text
        assert wait_for(client, named.json()["write_id"])["status"] == "succeeded"
    assert _puts(servers) == ["old"]
    assert rows(workspace / "old.duckdb", "SELECT phone FROM sandbox.residents WHERE id = 5") == [("555-0105",)]
