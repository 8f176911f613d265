"""A sync started over HTTP becomes a Dagster run when the API is pointed at a Dagster instance.

Real processes: the API (uvicorn) with `ROOFTOP_API_DAGSTER=1` and a temp `DAGSTER_HOME` holding the
checked-in dagster.yaml (queued run coordinator), a `dagster-daemon run` that dequeues and launches
the run, the sandbox source and a DuckDB file. Waiting is bounded polling of the instance and the API.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from connectors.sandbox.dataset import SandboxDataset
from tests.support.api_server import running_api
from tests.test_api import auth, write_tokens
from tests.test_dagster_ui import BIN, LOCATION, ROOT, _count, _poll, _process

CONNECTION = textwrap.dedent("""\
    name: dash
    source: {connector: sandbox, config: {api_key: "rooftop-sandbox", seed: 5, scale: 1}}
    destination: {connector: duckdb, config: {path: dash.duckdb}}
    schedule: manual
    streams: [{name: properties}]
    """)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_sync_over_http_is_a_queued_dagster_run_that_loads_rows(tmp_path: Path) -> None:
    ws, home = tmp_path / "ws", tmp_path / "dagster_home"
    (ws / "connections").mkdir(parents=True)
    home.mkdir()
    (ws / "connections" / "dash.yaml").write_text(CONNECTION)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    (ws / "workspace.yaml").write_text(textwrap.dedent(f"""\
        load_from:
          - python_module: {{module_name: {LOCATION}, working_directory: {ws}}}
        """))
    write_tokens(ws)
    with (ws / ".env").open("a") as env:
        env.write(f"ROOFTOP_API_DAGSTER=1\nDAGSTER_HOME={home}\n")
    daemon_env = {**os.environ, "DAGSTER_HOME": str(home), "ROOFTOP_WORKSPACE": str(ws)}
    log = tmp_path / "dagster-daemon.log"
    started = time.monotonic()
    # The instance's storage is created before the daemon starts (two processes stamping a fresh
    # SQLite storage at once can break both; see tests/test_dagster_ui.py).
    with DagsterInstance.from_config(str(home)) as instance, \
            _process([str(BIN / "dagster-daemon"), "run", "-w", str(ws / "workspace.yaml")], daemon_env, home, log), \
            running_api(ws) as url, httpx.Client(base_url=url, timeout=30) as client:
        reply = client.post("/v1/connections/dash/sync", headers=auth("write"))
        assert reply.status_code == 202, reply.text
        body = reply.json()
        run_id = body["dagster_run_id"]
        assert body["id"] == run_id and body["status"] == "queued"

        run = _poll("the API's run in the Dagster instance", lambda: instance.get_run_by_id(run_id), 60, log)
        assert run.tags["rooftop/connection"] == "dash" and run.tags["rooftop/started_by"] == "api"
        assert run.job_name == "dash"

        def finished() -> dict[str, Any] | None:
            polled: dict[str, Any] = client.get(f"/v1/syncs/{run_id}", headers=auth("read")).json()
            assert polled.get("error") is None, polled
            return polled if polled["status"] in ("succeeded", "failed") else None

        done = _poll("the Dagster run to finish", finished, 120, log)
        assert done["status"] == "succeeded" and done["dagster_status"] == "SUCCESS", done
    assert time.monotonic() - started < 150
    assert _count(ws / "dash.duckdb", "sandbox.properties") == SandboxDataset(seed=5, scale=1).record_count(
        "properties")
