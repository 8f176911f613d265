"""Dagster on PostgreSQL: the shipped deploy/dagster.yaml stores runs, events and schedules in a real
server, and a connection's job run through that instance is found there by SQL.

The instance is configured by the file a deployment copies (via tests/support/dagster_instance.py),
with the driver that the `postgres` extra installs. The run is a real job execution in this
process; the assertions read Dagster's own tables with psycopg, not through Dagster's API.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import DagsterInstance

from connectors.sandbox.dataset import SandboxDataset
from pipelines.dagster import build_definitions
from tests.conftest import WorkspaceFactory
from tests.support.dagster_instance import DEPLOY_INSTANCE, ROOT, libpq_dsn, postgres_home
from tests.warehouse_checks import expected, table_rows

CONN = """\
name: pg_stored
source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}", seed: 11, scale: 1}}
destination: {connector: duckdb, config: {path: wh.duckdb}}
streams:
  - {name: properties, sync_mode: full_refresh_overwrite}
  - {name: leases, sync_mode: incremental_deduped}
"""


def test_a_connection_job_runs_with_postgres_storage(tmp_path: Path, postgres_url: str,
                                                     make_workspace: WorkspaceFactory,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_workspace(CONN, name="pg_stored")
    for name, value in postgres_home(tmp_path / "dagster_home", postgres_url).items():
        monkeypatch.setenv(name, value)
    job = build_definitions(root).resolve_job_def("pg_stored")
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance)
    assert result.success

    with psycopg.connect(libpq_dsn(postgres_url)) as db:
        runs = db.execute("SELECT run_id, pipeline_name, status FROM runs").fetchall()
        materialized = db.execute(
            "SELECT asset_key, event FROM event_logs WHERE run_id = %s AND dagster_event_type = "
            "'ASSET_MATERIALIZATION' ORDER BY asset_key", (result.run_id,)).fetchall()
        schedule_tables = {t for (t,) in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name IN ('instigators', 'job_ticks')")}
    assert runs == [(result.run_id, "pg_stored", "SUCCESS")]
    assert [key for key, _ in materialized] == ['["sandbox", "leases"]', '["sandbox", "properties"]']
    assert schedule_tables == {"instigators", "job_ticks"}  # schedule storage is this database too
    leases_event = json.loads(materialized[0][1])
    metadata = leases_event["dagster_event"]["event_specific_data"]["materialization"]["metadata_entries"]
    values = {m["label"]: m["entry_data"] for m in metadata}
    assert values["worker"]["text"] == f"{socket.gethostname()}:{os.getpid()}"

    dataset = SandboxDataset(seed=11, scale=1)
    assert table_rows(root / "wh.duckdb", "sandbox.leases") == expected(dataset.current_records("leases"))


def test_the_deployment_instance_keeps_the_workspace_settings() -> None:
    """deploy/dagster.yaml is ../dagster.yaml plus Postgres storage: a limit raised in one is in both."""
    shipped = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    deployed = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    assert deployed.pop("storage")["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert deployed == shipped
