"""Warehouse-driven writes (reverse ETL): a connection's `writes:` job sends query rows to the source.

Against the real sandbox API over HTTP and a real DuckDB warehouse: the new values reach the
sandbox, each row is one succeeded write in `_rooftop.writes`, unchanged rows are not sent again,
refused rows are retried at the next run up to `max_attempts`, and the job is a Dagster asset
downstream of the table it reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, materialize
from typer.testing import CliRunner

import pipelines.cli.write_commands  # noqa: F401 - registers `rooftop write-job`
from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from pipelines.cli.app import app
from pipelines.dagster.build import build_definitions
from pipelines.writes.warehouse_jobs import run_write_job
from tests.conftest import API_KEY, WorkspaceFactory, connection

CONN = """\
name: pms
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "{key}", variant: {variant},
            retries: {{attempts: 2, initial_delay: 0.01, max_delay: 0.05}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
writes:
  - name: phones
    sql: >-
      SELECT r.id, c.phone FROM sandbox.residents r
      JOIN ops.phone_changes c ON c.resident_id = r.id WHERE r.id <= 3
    resource: residents
    key: id
  - name: notes
    sql: SELECT id, 'call after 5pm' AS note FROM sandbox.residents WHERE id = 4
    resource: residents
    key: id
    fields: {{note: notes}}
    max_attempts: 2
"""


@pytest.fixture
def full() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY, variant="full") as server:
        yield server


@pytest.fixture
def limited() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY, variant="limited") as server:
        yield server


def _synced_workspace(make: WorkspaceFactory, server: SandboxServer) -> Path:
    root = make(CONN.format(url=server.url, key=API_KEY, variant=server.variant), name="pms")
    result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "pms"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(root / "wh.duckdb")) as db:
        db.execute("CREATE SCHEMA ops; CREATE TABLE ops.phone_changes (resident_id BIGINT, phone VARCHAR)")
        db.execute("INSERT INTO ops.phone_changes VALUES (1, '555-0101'), (2, '555-0102'), (3, '555-0103'), "
                   "(9, '555-0109')")  # 9 is outside the WHERE: never sent
    return root


def _job_writes(root: Path, job: str) -> list[dict[str, object]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT write_id, status, record_id, request FROM _rooftop.writes "
                          "ORDER BY recorded_at").fetchall()
    newest = {write_id: {"status": status, "record_id": record_id, "request": json.loads(request)}
              for write_id, status, record_id, request in rows}
    return [w for w in newest.values() if w["request"].get("job") == job]


def test_a_job_sends_changed_rows_once_and_then_only_what_changed(make_workspace: WorkspaceFactory,
                                                                   full: SandboxServer) -> None:
    root = _synced_workspace(make_workspace, full)
    run = run_write_job(connection(root, "pms"), "phones")
    assert run.counts() == {"rows": 3, "sent": 3, "skipped_unchanged": 0, "failed": 0, "given_up": 0,
                            "in_doubt": 0}, run.errors
    for rid in (1, 2, 3):
        resident = full.dataset.get("residents", rid)
        assert resident is not None and resident["phone"] == f"555-010{rid}"
    assert (resident := full.dataset.get("residents", 9)) is not None and resident["phone"] != "555-0109"
    writes = _job_writes(root, "phones")
    assert sorted((w["record_id"], w["status"]) for w in writes) == [("1", "succeeded"), ("2", "succeeded"),
                                                                     ("3", "succeeded")]
    # The warehouse was re-read after the batch: it shows the new phones.
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("SELECT phone FROM sandbox.residents WHERE id = 2").fetchone() == ("555-0102",)

    again = run_write_job(connection(root, "pms"), "phones")
    assert (again.sent, again.skipped_unchanged) == (0, 3)

    with duckdb.connect(str(root / "wh.duckdb")) as db:
        db.execute("UPDATE ops.phone_changes SET phone = '555-0222' WHERE resident_id = 2")
    code = CliRunner().invoke(app, ["--workspace", str(root), "write-job", "pms", "phones", "--json"])
    assert code.exit_code == 0, code.output
    assert json.loads(code.output)["sent"] == 1 and json.loads(code.output)["skipped_unchanged"] == 2
    assert (resident := full.dataset.get("residents", 2)) is not None and resident["phone"] == "555-0222"
    assert len(_job_writes(root, "phones")) == 4


def test_a_refused_row_is_retried_next_run_until_max_attempts(make_workspace: WorkspaceFactory,
                                                              limited: SandboxServer) -> None:
    root = _synced_workspace(make_workspace, limited)  # the limited sandbox refuses `notes` on residents
    outcomes = [run_write_job(connection(root, "pms"), "notes") for _ in range(3)]
    assert [(r.sent, r.failed, r.given_up) for r in outcomes] == [(0, 1, 0), (0, 1, 0), (0, 0, 1)]
    assert "notes" in outcomes[0].errors[0]
    assert [w["status"] for w in _job_writes(root, "notes")] == ["failed", "failed"]
    result = CliRunner().invoke(app, ["--workspace", str(root), "write-job", "pms", "nope"])
    assert result.exit_code == 2 and "phones, notes" in result.output


@pytest.mark.slow
def test_the_job_is_an_asset_downstream_of_the_table_it_reads(make_workspace: WorkspaceFactory,
                                                              full: SandboxServer) -> None:
    root = _synced_workspace(make_workspace, full)
    defs = build_definitions(root)
    key = AssetKey(["pms_write_phones"])
    graph = defs.resolve_asset_graph()
    assert AssetKey(["sandbox", "residents"]) in graph.get(key).parent_keys
    assert graph.get(key).group_name == "pms"
    result = materialize([defs.resolve_assets_def(key)], selection=[key])
    assert result.success
    metadata = result.asset_materializations_for_node("pms_write_phones")[0].metadata
    assert metadata["sent"].value == 3 and metadata["failed"].value == 0
