"""Write-back over HTTP: `PUT /v1/{resource}/{id}`, `POST /v1/{resource}` and `/v1/writes`.

A real HTTP client against the real API server, the real sandbox in both variants (`full` takes
`notes` on residents; `limited` refuses them like a stricter PMS) and real DuckDB warehouses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.writes import Variant
from pipelines.cli import app
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.test_api import auth, write_tokens
from tests.warehouse_checks import rows

POLL_DEADLINE_SECONDS = 60.0
WRONG_KEY = "wrong-key-8e2a41"

CONN = """\
name: {name}
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "{key}", variant: {variant},
            retries: {{attempts: 4, initial_delay: 0.01, max_delay: 0.05}}}}
destination: {{connector: duckdb, config: {{path: {name}.duckdb}}}}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
"""


def _server(variant: Variant) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY, variant=variant) as server:
        yield server


@pytest.fixture
def full() -> Iterator[SandboxServer]:
    yield from _server("full")


@pytest.fixture
def limited() -> Iterator[SandboxServer]:
    yield from _server("limited")


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, full: SandboxServer, limited: SandboxServer) -> Path:
    """Two connections, `full` and `limited`, each synced once into its own DuckDB file."""
    root = make_workspace(CONN.format(name="full", url=full.url, key="${SANDBOX_TEST_KEY}", variant="full"), "full")
    make_workspace(CONN.format(name="limited", url=limited.url, key="${SANDBOX_TEST_KEY}", variant="limited"),
                   "limited")
    write_tokens(root)
    for name in ("full", "limited"):
        synced = CliRunner().invoke(app, ["--workspace", str(root), "sync", name])
        assert synced.exit_code == 0, synced.output
    return root


@pytest.fixture
def client(workspace: Path) -> Iterator[httpx.Client]:
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def wait_for(client: httpx.Client, write_id: str) -> dict[str, Any]:
    """Poll the write until it is neither queued nor running (bounded by a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while True:
        reply = client.get(f"/v1/writes/{write_id}", headers=auth("read"))
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def phone(root: Path, name: str, resident: int) -> Any:
    return rows(root / f"{name}.duckdb", f"SELECT phone FROM sandbox.residents WHERE id = {resident}")


def test_the_same_put_succeeds_on_the_full_sandbox_and_is_refused_by_the_limited_one(
        client: httpx.Client, workspace: Path, full: SandboxServer, limited: SandboxServer) -> None:
    body = {"phone": "555-0199", "notes": "prefers email"}
    started = time.monotonic()
    accepted = client.put("/v1/residents/sandbox:full:3", headers=auth("write"), json=body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "queued" and accepted.json()["ignored_fields"] == []
    done = wait_for(client, accepted.json()["write_id"])
    latency = time.monotonic() - started
    assert done["status"] == "succeeded", done
    assert phone(workspace, "full", 3) == [("555-0199",)]  # re-read before `succeeded` was recorded
    print(f"\nwrite latency, request to warehouse refresh: {latency * 1000:.0f} ms")
    resident = full.dataset.get("residents", 3)
    assert resident is not None and resident["notes"] == "prefers email"

    refused = client.put("/v1/residents/sandbox:limited:3", headers=auth("write"), json=body)
    assert refused.status_code == 400, refused.text
    assert "notes" in refused.json()["error"] and "sandbox (limited)" in refused.json()["error"]
    assert not any(method == "PUT" for _, method, _, _ in limited.request_log)  # nothing was sent

    ignored = client.put("/v1/residents/3?connection=limited&ignore_unknown_fields=true", headers=auth("write"),
                         json=body)
    assert ignored.status_code == 202, ignored.text
    assert ignored.json()["ignored_fields"] == ["notes"] and ignored.json()["connection"] == "limited"
    assert wait_for(client, ignored.json()["write_id"])["status"] == "succeeded"
    assert phone(workspace, "limited", 3) == [("555-0199",)]
    resident = limited.dataset.get("residents", 3)
    assert resident is not None and "notes" not in resident

    listed = client.get("/v1/writes?status=succeeded", headers=auth("read")).json()["writes"]
    assert {w["connection"] for w in listed} == {"full", "limited"}
    assert client.get("/v1/writes?connection=limited", headers=auth("read")).json()["writes"][0]["ignored_fields"] \
        == ["notes"]
    assert client.get("/v1/writes?since=2999-01-01T00:00:00Z", headers=auth("read")).json()["writes"] == []


def test_a_vendor_id_of_two_connections_is_a_409_naming_both(client: httpx.Client) -> None:
    reply = client.put("/v1/residents/3", headers=auth("write"), json={"phone": "555-0100"})
    assert reply.status_code == 409, reply.text
    assert "full" in reply.json()["error"] and "limited" in reply.json()["error"]
    unknown = client.put("/v1/residents/sandbox:nowhere:3", headers=auth("write"), json={"phone": "1"})
    assert unknown.status_code == 404, unknown.text
    assert client.get("/v1/writes/w-none", headers=auth("read")).status_code == 404


def test_create_takes_the_connection_from_the_body_and_units_only_where_allowed(client: httpx.Client,
                                                                              full: SandboxServer) -> None:
    unit = {"connection": "full", "property_id": 1, "unit_number": "9A"}
    created = client.post("/v1/units", headers=auth("write"), json=unit)
    assert created.status_code == 202, created.text
    done = wait_for(client, created.json()["write_id"])
    assert done["status"] == "succeeded" and done["record_id"], done
    refused = client.post("/v1/units?connection=limited", headers=auth("write"), json=unit | {"connection": "limited"})
    assert refused.status_code == 400 and "does not allow create on units" in refused.json()["error"]
    assert client.post("/v1/units", headers=auth("write"), json={"unit_number": "9B"}).status_code == 400


def test_a_write_during_503s_is_retried_and_succeeds(client: httpx.Client, workspace: Path,
                                                     full: SandboxServer) -> None:
    full.set_faults(fail_first=2, status=503)
    accepted = client.put("/v1/residents/5?connection=full", headers=auth("write"), json={"phone": "555-0100"})
    assert accepted.status_code == 202, accepted.text
    done = wait_for(client, accepted.json()["write_id"])
    assert done["status"] == "succeeded" and done["attempts"] == 3, done
    assert [s for _, method, _, s in full.request_log if method == "PUT"] == [503, 503, 200]
    assert phone(workspace, "full", 5) == [("555-0100",)]


def test_a_wrong_key_fails_with_the_pms_status_a_masked_log_and_can_be_retried(
        make_workspace: WorkspaceFactory, full: SandboxServer) -> None:
    root = make_workspace(CONN.format(name="wrong", url=full.url, key=WRONG_KEY, variant="full"), "wrong")
    write_tokens(root)
    with running_api(root) as url, httpx.Client(base_url=url, timeout=30) as client:
        accepted = client.put("/v1/residents/sandbox:wrong:3", headers=auth("write"), json={"phone": "555-0111"})
        assert accepted.status_code == 202, accepted.text
        write_id = accepted.json()["write_id"]
        done = wait_for(client, write_id)
        assert done["status"] == "failed" and "401" in done["error"], done
        log = client.get(f"/v1/writes/{write_id}/log", headers=auth("read"))
        assert log.status_code == 200
        assert [entry["status"] for entry in log.json()["log"]] == ["queued", "running", "failed"]
        assert log.json()["log"][0]["request"]["payload"] == {"phone": "555-0111"}
        assert WRONG_KEY not in log.text and WRONG_KEY not in client.get("/v1/writes", headers=auth("read")).text

        assert client.post(f"/v1/writes/{write_id}/retry", headers=auth("read")).status_code == 403
        retried = client.post(f"/v1/writes/{write_id}/retry", headers=auth("write"))
        assert retried.status_code == 202, retried.text
        again = wait_for(client, write_id)
        assert again["status"] == "failed" and again["attempts"] > done["attempts"], again
    cli = CliRunner().invoke(app, ["--workspace", str(root), "writes", "retry", write_id])
    assert cli.exit_code == 2 and "401" in cli.output and WRONG_KEY not in cli.output, cli.output
    listed = CliRunner().invoke(app, ["--workspace", str(root), "writes", "--status", "failed", "--json"])
    assert listed.exit_code == 0, listed.output  # JSON: a table's cells wrap with the terminal's width
    assert write_id in {w["write_id"] for w in json.loads(listed.output)}


def test_the_read_role_cannot_write(client: httpx.Client, full: SandboxServer) -> None:
    reply = client.put("/v1/residents/sandbox:full:3", headers=auth("read"), json={"phone": "555-0000"})
    assert reply.status_code == 403 and "write role" in reply.json()["error"]
    assert client.post("/v1/units?connection=full", headers=auth("read"),
                       json={"property_id": 1, "unit_number": "X"}).status_code == 403
    assert client.put("/v1/residents/sandbox:full:3", json={"phone": "1"}).status_code == 401
    assert not any(method in ("PUT", "POST") for _, method, _, _ in full.request_log)


def _writes_table(db: Path) -> list[tuple[Any, ...]]:
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT write_id, status FROM _rooftop.writes ORDER BY recorded_at").fetchall()
    except duckdb.Error:  # the writer holds the file for a moment, or the table does not exist yet
        return []


@pytest.mark.slow
def test_a_write_left_running_by_a_killed_process_needs_checking_after_restart(workspace: Path,
                                                                               full: SandboxServer) -> None:
    full.set_faults(slow_ms=30_000)  # the PUT hangs: the process is killed while sending
    writer = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--workspace", str(workspace), "write",
                               "units", "--connection", "full", "--data", '{"property_id": 1, "unit_number": "7Z"}'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        deadline = time.monotonic() + POLL_DEADLINE_SECONDS
        while not any(status == "running" for _, status in _writes_table(workspace / "full.duckdb")):
            assert writer.poll() is None and time.monotonic() < deadline, "the write never started sending"
            time.sleep(0.05)
    finally:
        writer.kill()
        writer.wait()
    full.set_faults()
    write_id = _writes_table(workspace / "full.duckdb")[-1][0]
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=30) as client:
        state = client.get(f"/v1/writes/{write_id}", headers=auth("read")).json()
        assert state["status"] == "needs_check" and "stopped while" in state["error"], state
        assert [w["write_id"] for w in client.get("/v1/writes?status=needs_check",
                                                  headers=auth("read")).json()["writes"]] == [write_id]
    # Never re-sent on its own: the sandbox's log (answered requests) has no create, the killed one
    # was cut off before its answer and the restart sent nothing.
    assert [m for _, m, _, _ in full.request_log if m == "POST"] == []
