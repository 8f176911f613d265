"""A connection's warehouse-driven write jobs (`writes:` in YAML) as Dagster assets.

Each job is an asset `<connection>_write_<job>` in the connection's group, downstream of the tables
its SQL reads: every `schema.table` after FROM or JOIN that a connection writing the same warehouse
lands (by the translator's keys). Other names (the user's own tables, CTEs) add no dependency. A job
with a schedule gets its own Dagster job and schedule. Its materialization carries the run's counts.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's annotations.

import re

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DefaultScheduleStatus,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from pipelines.config.models import WriteJob
from pipelines.config.schedules import compile_schedule
from pipelines.dagster.specs import ConnectionSpecs
from pipelines.writes.warehouse_jobs import run_write_job

TABLE_REFERENCE = re.compile(r"\b(?:from|join)\s+\"?([A-Za-z_]\w*)\"?\.\"?([A-Za-z_]\w*)\"?", re.IGNORECASE)


def write_job_key(connection: str, job: str) -> AssetKey:
    return AssetKey([f"{connection}_write_{job}"])


def read_tables(sql: str) -> set[tuple[str, str]]:
    """The `(schema, table)` pairs a query names after FROM or JOIN (a simple scan, not a SQL parser)."""
    return {(schema, table) for schema, table in TABLE_REFERENCE.findall(sql)}


def write_job_definitions(specs: ConnectionSpecs, built: list[ConnectionSpecs]
                          ) -> tuple[list[AssetsDefinition], list[ScheduleDefinition]]:
    """The assets (and schedules) of `specs`' write jobs; `built` are every loaded connection's specs."""
    same_warehouse = [s for s in built if s is specs or (s.warehouse is not None and s.warehouse == specs.warehouse)]
    tables = {(plan.table.namespace, plan.table.table): key
              for s in same_warehouse for key, plan in s.plan_of.items()}
    group = next((spec.group_name for spec in specs.assets if spec.group_name), None)
    assets, schedules = [], []
    for job in specs.conn.config.writes:
        deps = sorted({tables[t] for t in read_tables(job.sql) if t in tables}, key=lambda k: k.to_user_string())
        assets.append(_job_asset(specs, job, deps, group))
        compiled = compile_schedule(job.schedule)
        if compiled is not None:
            key = write_job_key(specs.name, job.name)
            dagster_job = define_asset_job(key.path[0], selection=[key], tags=specs.run_tags)
            status = DefaultScheduleStatus.RUNNING if specs.conn.config.active else DefaultScheduleStatus.STOPPED
            schedules.append(ScheduleDefinition(
                name=f"{key.path[0]}_schedule", job=dagster_job, cron_schedule=compiled.cron_schedule,
                execution_timezone=compiled.timezone, default_status=status, tags=specs.run_tags,
                description=f"{compiled.source} in {compiled.timezone} (from {specs.conn.file})."))
    return assets, schedules


def _job_asset(specs: ConnectionSpecs, job: WriteJob, deps: list[AssetKey], group: str | None) -> AssetsDefinition:
    conn = specs.conn

    @asset(key=write_job_key(conn.name, job.name), deps=deps, group_name=group, pool=specs.pool,
           description=f"Write job {job.name} of connection {conn.name} ({conn.file}): {job.operation} "
                       f"{job.resource} from the rows of its query.")
    def _write(context: AssetExecutionContext) -> MaterializeResult[None]:
        run = run_write_job(conn, job.name)
        for error in run.errors:
            context.log.warning(error)
        return MaterializeResult(metadata={**run.counts(), "refreshed_sync_id": run.refreshed_sync_id or ""})

    return _write
