"""No write is left `running` or `queued` silently: a warehouse that refuses the outcome, an API stopped.

Against real things only: a Postgres warehouse switched to read-only (every new session refuses
writes) while a write is in flight, and a real `rooftop api` process killed while one write hangs
at the sandbox and another waits its turn behind it, then started again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.support.cli import rooftop
from tests.support.http_api import Reply, Request, TestApi
from tests.test_api import auth, write_tokens
from tests.test_api_writes import POLL_DEADLINE_SECONDS, wait_for
from tests.warehouse_checks import rows

GATE_SECONDS = 60.0


def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _read_only(postgres_url: str, on: bool) -> None:
    url = sa.make_url(postgres_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = {"on" if on else "off"}')


def test_an_outcome_the_warehouse_refuses_is_logged_and_recorded_once_it_takes_it(
        make_workspace: WorkspaceFactory, postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    arrived, gate = threading.Event(), threading.Event()

    def pms(request: Request) -> Reply:
        if request.method == "PUT":
            arrived.set()
            gate.wait(GATE_SECONDS)  # held until the warehouse has been made read-only
            return Reply(body={"data": {"id": 3, "phone": "555-0303"}})
        return Reply(status=404, body={"error": "not here"})

    caplog.set_level(logging.WARNING, logger="pipelines.writes.worker")
    with TestApi(pms) as api:
        root = make_workspace(f"""\
name: pg
source: {{connector: sandbox, config: {{base_url: "{api.url}", api_key: "${{SANDBOX_TEST_KEY}}"}}}}
destination: {{connector: postgres, config: {{url: "{postgres_url}"}}}}
streams: [{{name: units}}]
""", "pg")
        write_tokens(root)
        with running_api(root) as url, httpx.Client(base_url=url, timeout=30) as client:
            accepted = client.put("/v1/residents/3?connection=pg", headers=auth("write"), json={"phone": "555-0303"})
            assert accepted.status_code == 202, accepted.text
            write_id = accepted.json()["write_id"]
            assert arrived.wait(GATE_SECONDS)  # `running` is recorded before the request goes out
            _read_only(postgres_url, True)
            try:
                gate.set()
                _until(lambda: any(r.levelno == logging.ERROR and write_id in r.getMessage() for r in caplog.records),
                       "the refused outcome was never logged")
            finally:
                _read_only(postgres_url, False)
            done = wait_for(client, write_id)
            assert done["status"] == "succeeded", done
        assert any("recorded once the warehouse took it again" in r.getMessage() for r in caplog.records)
        assert _statuses(postgres_url, write_id) == ["queued", "running", "succeeded"]


def _statuses(postgres_url: str, write_id: str) -> list[str]:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as db:
            found = db.execute(sa.text("SELECT status FROM _rooftop.writes WHERE write_id = :w ORDER BY recorded_at"),
                               {"w": write_id})
            return [row[0] for row in found]
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_process(root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `rooftop api` process; yields it and its URL once it answers."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--workspace", str(root), "api",
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, "the API process exited"
        try:
            return httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _until(answers, "the API process never answered")
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_writes_queued_when_the_api_stops_are_sent_when_it_starts_again(make_workspace: WorkspaceFactory) -> None:
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY) as sandbox:
        root = make_workspace(f"""\
name: acme
source: {{connector: sandbox, config: {{base_url: "{sandbox.url}", api_key: "${{SANDBOX_TEST_KEY}}"}}}}
destination: {{connector: duckdb, config: {{path: acme.duckdb}}}}
streams: [{{name: residents, sync_mode: incremental_deduped}}]
""", "acme")
        write_tokens(root)
        assert rooftop(root, "sync", "acme")[0] == 0
        sandbox.set_faults(slow_ms=30_000)  # the first PUT hangs: the second waits its turn behind it
        with api_process(root) as (process, url), httpx.Client(base_url=url, timeout=30) as client:
            first = client.put("/v1/residents/sandbox:acme:3", headers=auth("write"), json={"phone": "555-0003"})
            second = client.put("/v1/residents/sandbox:acme:4", headers=auth("write"), json={"phone": "555-0004"})
            assert first.status_code == 202 and second.status_code == 202, (first.text, second.text)
            first_id, second_id = first.json()["write_id"], second.json()["write_id"]
            _until(lambda: client.get(f"/v1/writes/{first_id}", headers=auth("read")).json()["status"] == "running",
                   "the first write never started sending")
            assert client.get(f"/v1/writes/{second_id}", headers=auth("read")).json()["status"] == "queued"
            process.send_signal(signal.SIGKILL)
            process.wait()
        sandbox.set_faults()
        with api_process(root) as (_, url), httpx.Client(base_url=url, timeout=30) as client:
            assert wait_for(client, second_id)["status"] == "succeeded"
            first_state = client.get(f"/v1/writes/{first_id}", headers=auth("read")).json()
            assert first_state["status"] == "needs_check", first_state  # may have landed: never re-sent
        resident = sandbox.dataset.get("residents", 4)
        assert resident is not None and resident["phone"] == "555-0004"
        assert [s for _, m, p, s in sandbox.request_log if m == "PUT" and p == "/v1/residents/4"] == [200]  # once
        assert rows(root / "acme.duckdb", "SELECT phone FROM sandbox.residents WHERE id = 4") == [("555-0004",)]
