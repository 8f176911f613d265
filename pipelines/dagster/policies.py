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
    SkipReason,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from pipelines.config.models import Retries
from pipelines.config.schedules import run_schedules, schedule_names
from pipelines.config.schedules import schedule_name as schedule_name  # importable from here, as before
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


def connection_schedules(specs: ConnectionSpecs, job: UnresolvedAssetJobDefinition) -> list[ScheduleDefinition]:
    """The YAML schedule(s) as cron lists, one Dagster schedule per timezone; none for `manual`.

    Schedules sharing a timezone merge into one cron list, which Dagster fires once per instant
    (schedules.merge_by_timezone). A schedule written in YAML is meant to run: it starts RUNNING
    (as soon as a daemon is up), unless the connection is paused (`active: false`): then STOPPED.
    """
    conn = specs.conn
    status = DefaultScheduleStatus.RUNNING if conn.config.active else DefaultScheduleStatus.STOPPED
    paused = "" if conn.config.active else " Paused in YAML (active: false): syncs are refused."
    # Paused, a schedule someone started in the UI anyway (stored state beats the default status)
    # skips its ticks with the reason, instead of launching runs that the asset body refuses.
    skip = SkipReason(f"connection {conn.name!r} is paused (active: false in {conn.file})")
    compiled = run_schedules(conn.config.schedule)
    return [ScheduleDefinition(
        name=name, job=job, cron_schedule=c.cron_schedule, execution_timezone=c.timezone, default_status=status,
        tags=specs.run_tags, description=f"{c.source} in {c.timezone} (from {conn.file}).{paused}",
        execution_fn=None if conn.config.active else lambda _context: skip)
        for name, c in zip(schedule_names(conn.name, compiled), compiled, strict=True)]
