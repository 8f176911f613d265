"""`Definitions` built from a workspace mirror its YAML, and a Dagster run lands what `rooftop sync` lands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    Backoff,
    DagsterEventType,
    DagsterInstance,
    DefaultScheduleStatus,
    Definitions,
    Jitter,
    materialize,
)
from typer.testing import CliRunner

from connectors.sandbox.schema import DESCRIPTIONS
from pipelines.cli import app
from pipelines.dagster import build_definitions
from pipelines.dagster.execute import SCHEDULE_TAG
from tests.conftest import API_KEY

LEASING = """\
name: leasing
owners: [team:data, ana@example.com]
tags: {domain: leasing}
source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}", scale: 2}}
destination: {connector: duckdb, config: {path: leasing.duckdb}}
namespace: raw
prefix: pms_
schedule: {cron: ["0 9 * * 1-5", "30 12 * * 6"], timezone: America/Chicago}
retries: {attempts: 4, delay: 10s, backoff: linear, jitter: true}
streams:
  - {name: properties, sync_mode: full_refresh_overwrite}
  - {name: leases, sync_mode: incremental_deduped}
"""
FILES = {
    "leasing": LEASING,
    "slots": """\
        name: slots
        active: false
        source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}", scale: 1}}
        destination: {connector: duckdb, config: {path: slots.duckdb}}
        schedule:
          week:
            timezone: Europe/Berlin
            MONDAY: [{start: "08:00", end: "12:00", every: 30 minutes}]
            FRIDAY: [{start: "08:10", end: "09:00", every: 20 minutes}]
        retries: {attempts: 1}
        streams: [{name: units, sync_mode: full_refresh_append}]
        """,
    "onschedule": """\
        name: onschedule
        allow_manual_syncs: false
        source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}", scale: 1}}
        destination: {connector: duckdb, config: {path: onschedule.duckdb}}
        namespace: ops
        schedule: {every: 15 minutes, timezone: UTC}
        retries: {attempts: 2, delay: 1 minute, backoff: exponential, jitter: false}
        streams: [{name: residents}]
        """,
    "adhoc": """\
        name: adhoc
        source: {connector: sandbox, config: {api_key: "${SANDBOX_TEST_KEY}", scale: 1}}
        destination: {connector: duckdb, config: {path: leasing.duckdb}}
        namespace: adhoc
        streams: [{name: work_orders}]
        """,
    # Lands raw.pms_properties like `leasing`, which comes first (files load in name order): refused.
    "twin": LEASING.replace("name: leasing", "name: twin"),
    "typo": """\
        name: typo
        source: {connector: sandbox, config: {api_key: k-1234}}
        shedule: manual
        """,
}


def _workspace(root: Path, names: list[str] | None = None) -> Path:
    (root / "connections").mkdir(parents=True)
    for name, text in FILES.items():
        if names is None or name in names:
            (root / "connections" / f"{name}.yaml").write_text(textwrap.dedent(text))
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
    return root


@pytest.fixture
def defs(tmp_path: Path) -> Definitions:
    return build_definitions(_workspace(tmp_path / "ws"))


def test_assets_mirror_the_yaml_and_the_catalog(defs: Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    leases, props = specs[AssetKey(["raw", "pms_leases"])], specs[AssetKey(["raw", "pms_properties"])]
    assert leases.group_name == props.group_name == "leasing"
    assert leases.kinds == {"sandbox", "duckdb"}
    assert leases.owners == ["team:data", "ana@example.com"] and leases.tags["domain"] == "leasing"
    assert (leases.description or "").startswith(DESCRIPTIONS["leases"])  # the catalog's words
    assert [dep.asset_key for dep in leases.deps] == [AssetKey(["source", "sandbox", "leases"])]
    upstream = specs[AssetKey(["source", "sandbox", "leases"])]
    assert upstream.group_name == "external_sources" and upstream.kinds == {"sandbox"}
    columns = [c.name for c in leases.metadata["dagster/column_schema"].columns]
    assert columns[:2] == ["id", "unit_id"] and "_rooftop_sync_id" in columns
    assert leases.metadata["dagster/table_name"] == "raw.pms_leases"
    assert specs[AssetKey(["ops", "residents"])].group_name == "onschedule"
    assert AssetKey(["main", "units"]) not in specs  # `namespace: source` → the sandbox's schema
    assert specs[AssetKey(["sandbox", "units"])].group_name == "slots"
    graph = defs.resolve_asset_graph()
    assert {key for key in graph.asset_check_keys if key.asset_key.path[0] == "raw"} == {
        AssetCheckKey(AssetKey(["raw", "pms_leases"]), "primary_key_unique")}  # deduped streams only


def test_broken_files_are_visible_and_do_not_hide_the_others(defs: Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    typo = specs[AssetKey(["rooftop_broken", "typo"])]
    assert typo.group_name == "broken_connections"
    described = typo.description or ""
    assert "connections/typo.yaml:3" in described and "did you mean 'schedule'" in described
    twin = specs[AssetKey(["rooftop_broken", "twin"])]
    assert "already synced by connection 'leasing'" in (twin.description or "")
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"leasing", "slots", "onschedule", "adhoc"} <= jobs and "twin" not in jobs


def test_schedules_retries_pools_and_run_tags(defs: Definitions, tmp_path: Path) -> None:
    leasing = defs.resolve_schedule_def("leasing_schedule")
    assert leasing.cron_schedule == ["0 9 * * 1-5", "30 12 * * 6"]
    assert leasing.execution_timezone == "America/Chicago"
    assert leasing.default_status == DefaultScheduleStatus.RUNNING
    slots = defs.resolve_schedule_def("slots_schedule")
    assert slots.cron_schedule == ["*/30 8-11 * * 1", "10,30,50 8 * * 5"]
    assert slots.execution_timezone == "Europe/Berlin"
    assert slots.default_status == DefaultScheduleStatus.STOPPED  # active: false
    assert defs.resolve_schedule_def("onschedule_schedule").cron_schedule == "*/15 * * * *"
    assert "adhoc_schedule" not in {s.name for s in defs.schedules or []}  # manual: no schedule

    def op(name: str):
        return defs.resolve_job_def(name).graph.node_defs[0]

    policy = op("leasing").retry_policy
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (3, 10, Backoff.LINEAR,
                                                                                Jitter.PLUS_MINUS)
    policy = op("onschedule").retry_policy
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (1, 60, Backoff.EXPONENTIAL, None)
    assert op("slots").retry_policy is None  # attempts: 1
    assert op("leasing").pool == "rooftop/leasing"
    warehouse = str((tmp_path / "ws" / "leasing.duckdb").resolve())
    assert defs.resolve_job_def("leasing").tags == {"domain": "leasing", "rooftop/connection": "leasing",
                                                    "rooftop/warehouse": warehouse}
    # Two connections writing one DuckDB file share the warehouse tag, so their runs queue up.
    assert defs.resolve_job_def("adhoc").tags["rooftop/warehouse"] == warehouse


def _tables(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [f"{s}.{t}" for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('_rooftop') ORDER BY 1, 2").fetchall()]
        return {name: sorted(con.execute(
            f"SELECT * EXCLUDE (_rooftop_extracted_at, _rooftop_sync_id) FROM {name}").fetchall(), key=repr)
            for name in names}


def test_materialize_lands_the_same_rows_as_rooftop_sync(tmp_path: Path) -> None:
    dagster_ws = _workspace(tmp_path / "dagster", ["leasing"])
    cli_ws = tmp_path / "cli"
    shutil.copytree(dagster_ws, cli_ws)
    defs = build_definitions(dagster_ws)
    result = materialize([defs.resolve_assets_def(AssetKey(["raw", "pms_leases"]))],
                         instance=DagsterInstance.ephemeral())
    assert result.success
    cli = CliRunner().invoke(app, ["--workspace", str(cli_ws), "sync", "leasing"])
    assert cli.exit_code == 0, cli.output
    landed = _tables(dagster_ws / "leasing.duckdb")
    assert set(landed) == {"raw.pms_leases", "raw.pms_properties"}
    assert landed == _tables(cli_ws / "leasing.duckdb")
    meta = {m.asset_key.path[-1]: m.metadata for m in
            (e.materialization for e in result.get_asset_materialization_events())}
    leases = meta["pms_leases"]
    rows = len(landed["raw.pms_leases"])
    assert leases["rows_synced"].value == rows and leases["dagster/row_count"].value == rows
    assert leases["dagster/table_name"].value == "raw.pms_leases"
    assert leases["sync_mode"].value == "incremental_deduped" and leases["coercion_errors"].value == 0
    assert leases["cursor"].value and leases["duration_seconds"].value >= 0
    assert "rent" in [c.name for c in leases["dagster/column_schema"].schema.columns]
    assert meta["pms_properties"]["cursor"].value is None
    checks = result.get_asset_check_evaluations()
    assert [(c.asset_key.path[-1], c.passed) for c in checks] == [("pms_leases", True)]


def test_a_subset_syncs_only_the_selected_streams(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", ["leasing"])
    defs = build_definitions(root)
    key = AssetKey(["raw", "pms_properties"])
    result = materialize([defs.resolve_assets_def(key)], selection=[key], instance=DagsterInstance.ephemeral(),
                         run_config={"ops": {"leasing_sync": {"config": {"full_refresh": True}}}})
    assert result.success
    assert set(_tables(root / "leasing.duckdb")) == {"raw.pms_properties"}
    [event] = result.get_asset_materialization_events()
    assert event.materialization.asset_key == key
    assert event.materialization.metadata["full_refresh"].value is True


def test_paused_and_schedule_only_connections_refuse_manual_runs(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", ["slots", "onschedule"])
    defs = build_definitions(root)
    instance = DagsterInstance.ephemeral()
    paused = defs.resolve_job_def("slots").execute_in_process(instance=instance, raise_on_error=False)
    assert not paused.success
    failure = next(e for e in paused.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "is paused (active: false in connections/slots.yaml)" in failure.step_failure_data.error.message
    assert not any(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in paused.all_events)
    assert not (root / "slots.duckdb").exists()

    job = defs.resolve_job_def("onschedule")
    manual = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not manual.success and not (root / "onschedule.duckdb").exists()
    failure = next(e for e in manual.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "manual syncs of 'onschedule' are disabled" in failure.step_failure_data.error.message
    scheduled = job.execute_in_process(instance=instance, tags={SCHEDULE_TAG: "onschedule_schedule"})
    assert scheduled.success and "ops.residents" in _tables(root / "onschedule.duckdb")


def test_primary_key_check_finds_duplicates(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", ["leasing"])
    defs = build_definitions(root)
    key = AssetKey(["raw", "pms_leases"])
    assets = [defs.resolve_assets_def(key)]
    assert materialize(assets, selection=[key], instance=DagsterInstance.ephemeral()).success
    with duckdb.connect(str(root / "leasing.duckdb")) as con:
        con.execute("INSERT INTO raw.pms_leases SELECT * FROM raw.pms_leases ORDER BY id LIMIT 2")
    result = materialize(assets, selection=AssetSelection.checks_for_assets(key),
                         instance=DagsterInstance.ephemeral())
    assert result.success  # a failed check is reported, it does not fail the run
    assert not result.get_asset_materialization_events()  # checking alone syncs nothing
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["duplicate_keys"].value == 2


def test_the_checked_in_workspace_yaml_loads_every_example_connection(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    env.pop("ROOFTOP_WORKSPACE", None)  # workspace.yaml's working directory (the repo root) decides
    validate = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
                               str(root / "workspace.yaml")], cwd=root, env=env, capture_output=True, text=True,
                              timeout=120)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Validation successful for code location pipelines.definitions" in validate.stderr + validate.stdout
    defs = build_definitions(root)
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    assert not [k for k in keys if k.path[0] == "rooftop_broken"]
    assert {"sandbox_leasing", "sandbox_maintenance"} <= {job.name for job in defs.resolve_all_job_defs()}
