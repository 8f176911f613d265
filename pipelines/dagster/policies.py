"""YAML → Dagster policies: `retries` → RetryPolicy, `schedule` → ScheduleDefinition, the job.

Pure mappings with no I/O, kept apart from the asset body so each rule can be read in one place
and tested on its own (docs/dagster.md has the same table for users).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    Backoff,
    DefaultScheduleStatus,
    Jitter,
    RetryPolicy,
    ScheduleDefinition,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from pipelines.config.models import Retries
from pipelines.config.schedules import compile_schedule
from pipelines.dagster.specs import ConnectionSpecs

BACKOFF = {"constant": None, "linear": Backoff.LINEAR, "exponential": Backoff.EXPONENTIAL}


def retry_policy(retries: Retries) -> RetryPolicy | None:
    """`attempts` counts the first try; Dagster's `max_retries` does not. One attempt = no policy.

    Dagster computes the wait before retry n as `delay * (2**n - 1)` (exponential), `delay * n`
    (linear) or `delay` (constant); PLUS_MINUS jitter adds a uniform ±delay on top.
    """
    if retries.attempts <= 1:
        return None
    delay = retries.delay_seconds
    return RetryPolicy(max_retries=retries.attempts - 1, delay=delay, backoff=BACKOFF[retries.backoff],
                       jitter=Jitter.PLUS_MINUS if retries.jitter and delay > 0 else None)


def job_name(connection: str) -> str:
    return connection


def schedule_name(connection: str) -> str:
    return f"{connection}_schedule"


def sync_job(specs: ConnectionSpecs) -> UnresolvedAssetJobDefinition:
    """All of the connection's tables (and their checks), tagged for the run queue's limits."""
    conn = specs.conn
    return define_asset_job(
        job_name(conn.name), selection=AssetSelection.assets(*specs.stream_of),
        tags=specs.run_tags,
        description=f"Sync connection {conn.name} ({conn.file}): "
                    f"{conn.config.source.connector} → {conn.config.destination.connector}. "
                    "Run config `since: YYYY-MM-DD` backsyncs incremental streams from that day; "
                    "`full_refresh: true` ignores saved state once.")


def connection_schedule(specs: ConnectionSpecs, job: UnresolvedAssetJobDefinition) -> ScheduleDefinition | None:
    """The YAML schedule as cron string(s) in its timezone; None for `manual`.

    A schedule written in YAML is meant to run: it starts RUNNING (as soon as a daemon is up),
    unless the connection is paused (`active: false`), in which case it is shown STOPPED.
    """
    conn = specs.conn
    compiled = compile_schedule(conn.config.schedule)
    if compiled is None:
        return None
    status = DefaultScheduleStatus.RUNNING if conn.config.active else DefaultScheduleStatus.STOPPED
    paused = "" if conn.config.active else " Paused in YAML (active: false): syncs are refused."
    return ScheduleDefinition(
        name=schedule_name(conn.name), job=job, cron_schedule=compiled.cron_schedule,
        execution_timezone=compiled.timezone, default_status=status, tags=specs.run_tags,
        description=f"{compiled.source} in {compiled.timezone} (from {conn.file}).{paused}")
