"""The body of a connection's multi-asset: decide whether to run, call `run_sync`, report.

Order of a step:
1. refuse at once (no retry) when the YAML says so: `active: false`, or `allow_manual_syncs:
   false` and the run was not started by the schedule;
2. `run_sync` the selected streams (the engine resumes every incremental stream from its last
   committed checkpoint, which is what makes a retried attempt cheap);
3. one `MaterializeResult` per stream that succeeded, with its metadata, then the primary-key
   checks of the deduplicated tables;
4. if a stream failed: re-raise when every failure is transient (the RetryPolicy then retries the
   step), else fail with `Failure(allow_retries=False)`: credentials or config will not fix
   themselves. Errors the engine does not classify propagate unchanged, so the policy retries them.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Config,
    DagsterLogManager,
    Failure,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from pipelines.config.redact import RedactingFilter, Redactor
from pipelines.dagster.specs import PK_CHECK, ConnectionSpecs
from pipelines.dagster.translator import column_schema
from pipelines.engine.runner import RunContext, StreamResult, SyncResult, run_sync
from protocol.errors import ConfigError, SyncFailed

SCHEDULE_TAG = "dagster/schedule_name"
"""Dagster tags every run a schedule starts with this; its absence marks a manual run."""


class SyncConfig(Config):
    """Run config of a connection's sync (Launchpad: `ops: {<conn>_sync: {config: {...}}}`)."""

    full_refresh: bool = Field(False, description="Ignore saved state once: every stream reads from the start.")
    since: str | None = Field(None, description="Backsync: incremental streams re-read from this day "
                                                "(YYYY-MM-DD) and keep their saved cursor unless passed.")


def run_url(run_id: str) -> str:
    """Link to a run in the Dagster UI (DAGSTER_WEBSERVER_URL, default the local `rooftop ui`)."""
    base = os.environ.get("DAGSTER_WEBSERVER_URL", "http://localhost:3000").rstrip("/")
    return f"{base}/runs/{run_id}"


def execute(context: AssetExecutionContext, specs: ConnectionSpecs, config: SyncConfig
            ) -> Iterator[MaterializeResult[None] | AssetCheckResult]:
    conn = specs.conn
    selected = [key for key in specs.stream_of if key in context.selected_asset_keys]
    failure: SyncFailed | None = None
    result: SyncResult | None = None
    if selected:
        _refuse_if_not_allowed(context, specs)
        streams = [specs.stream_of[key] for key in selected]
        observer = _LogObserver(context.log, conn.redactor)
        since = _since(config)
        attempts = RunContext(dagster_run_url=run_url(context.run.run_id), attempt=context.retry_number + 1,
                              max_attempts=conn.config.retries.attempts)
        try:
            with _forward_engine_logs(context.log, conn.redactor):
                run_sync(conn, streams=None if len(streams) == len(specs.stream_of) else streams,
                         full_refresh=config.full_refresh, since=since, observer=observer, run_context=attempts)
        except SyncFailed as exc:
            failure = exc
        except ConfigError as exc:
            raise Failure(description=conn.redactor(str(exc)), allow_retries=False,
                          metadata={"connection_file": conn.file}) from exc
        result = observer.result
    succeeded = {r.stream: r for r in (result.streams if result else []) if r.status == "succeeded"}
    done: set[AssetKey] = set()
    for key in selected:
        stream_result = succeeded.get(specs.stream_of[key])
        if stream_result is not None and result is not None:
            done.add(key)
            yield MaterializeResult(asset_key=key, metadata=_metadata(stream_result, result.sync_id, config,
                                                                      conn.redactor))
    yield from _primary_key_checks(context, specs, [k for k in context.selected_asset_check_keys
                                                    if k.asset_key in done or k.asset_key not in selected])
    if failure is not None:
        if failure.retryable:
            context.log.warning("every failed stream failed transiently: the connection's `retries` policy "
                                "decides on another attempt (incremental streams resume from their last "
                                "checkpoint)")
            raise failure
        raise Failure(description=conn.redactor(str(failure)), allow_retries=False,
                      metadata={"failed_streams": ", ".join(failure.failures), "connection_file": conn.file})


def worker_id() -> str:
    """Which process ran the sync: the Celery worker's name (`-n` of `dagster-celery worker start`)
    when a Celery task runs this step, else `host:pid`, so a run's page shows where each table synced."""
    # Read from sys.modules rather than imported: celery is an optional extra, and only a Celery
    # worker has a current task.
    celery = sys.modules.get("celery")
    hostname = getattr(getattr(getattr(celery, "current_task", None), "request", None), "hostname", None)
    return hostname if isinstance(hostname, str) and hostname else f"{socket.gethostname()}:{os.getpid()}"


def _since(config: SyncConfig) -> date | None:
    if config.since is None:
        return None
    if config.full_refresh:
        # As `rooftop sync --since --full-refresh`: without saved state nothing would stop the
        # backsync's cursor from moving back to `since`.
        raise Failure(description="run config `since` and `full_refresh` do not combine: `since` re-reads from a "
                                  "day and merges, `full_refresh` re-reads everything", allow_retries=False)
    try:
        return date.fromisoformat(config.since)
    except ValueError:
        raise Failure(description=f"run config `since: {config.since}` is not a date (YYYY-MM-DD)",
                      allow_retries=False) from None


def _refuse_if_not_allowed(context: AssetExecutionContext, specs: ConnectionSpecs) -> None:
    cfg = specs.conn.config
    where = specs.conn.file
    if not cfg.active:
        raise Failure(description=f"connection {cfg.name!r} is paused (active: false in {where}); "
                                  "set active: true to sync it", allow_retries=False)
    if not cfg.allow_manual_syncs and SCHEDULE_TAG not in context.run.tags:
        raise Failure(description=f"manual syncs of {cfg.name!r} are disabled (allow_manual_syncs: false in "
                                  f"{where}); it runs on its schedule only", allow_retries=False)


def _metadata(r: StreamResult, sync_id: str, config: SyncConfig, redact: Redactor) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "rows_synced": MetadataValue.int(r.rows_written),
        "rows_read": MetadataValue.int(r.rows_read),
        "dagster/table_name": r.table,
        "dagster/column_schema": column_schema(r.columns),
        "sync_mode": r.sync_mode,
        "cursor": MetadataValue.null() if r.cursor is None else MetadataValue.text(redact(str(r.cursor))),
        "coercion_errors": MetadataValue.int(r.error_count),
        "duration_seconds": MetadataValue.float(round(r.duration_seconds, 3)),
        "checkpoints": MetadataValue.int(r.checkpoints),
        "sync_id": sync_id,
        "full_refresh": MetadataValue.bool(config.full_refresh),
        "backsync_since": MetadataValue.null() if config.since is None else MetadataValue.text(config.since),
        "logs": MetadataValue.text(f"rooftop logs {sync_id}"),
        "worker": worker_id(),
    }
    if r.total_rows is not None:
        metadata["dagster/row_count"] = MetadataValue.int(r.total_rows)
    return metadata


def _primary_key_checks(context: AssetExecutionContext, specs: ConnectionSpecs,
                        wanted: list[AssetCheckKey]) -> Iterator[AssetCheckResult]:
    wanted = [k for k in wanted if k.name == PK_CHECK and k.asset_key in specs.plan_of]
    if not wanted:
        return
    counts: dict[AssetKey, int] = {}
    with specs.conn.make_destination() as destination:
        for check in wanted:
            plan = specs.plan_of[check.asset_key]
            counts[check.asset_key] = destination.count_duplicate_keys(
                plan.table.namespace, plan.table.table, plan.primary_key)
    for check in wanted:
        duplicates = counts[check.asset_key]
        if duplicates:
            context.log.error(f"{'.'.join(check.asset_key.path)}: {duplicates} primary key value(s) occur in "
                              "more than one row")
        yield AssetCheckResult(asset_key=check.asset_key, check_name=PK_CHECK, passed=duplicates == 0,
                               severity=AssetCheckSeverity.ERROR,
                               metadata={"duplicate_keys": MetadataValue.int(duplicates),
                                         "primary_key": ", ".join(specs.plan_of[check.asset_key].primary_key)})


class _EventLogHandler(logging.Handler):
    """Engine, HTTP and source log records (INFO and up) → the run's event log, secrets masked.

    The full structured log, per-request DEBUG records included, is in `_rooftop.sync_logs`
    (`rooftop logs SYNC_ID`); the event log gets the part a person scrolls through.
    """

    def __init__(self, log: DagsterLogManager, redact: Redactor) -> None:
        super().__init__(logging.INFO)
        self._log = log
        self._lock_ = threading.Lock()
        self._redact = redact
        self.addFilter(RedactingFilter(redact))

    def emit(self, record: logging.LogRecord) -> None:
        text = f"[{record.name}] {record.getMessage()}"
        if record.exc_info:
            # The event log keeps tracebacks (the CLI shows them only with --debug).
            text += "\n" + self._redact(logging.Formatter().formatException(record.exc_info))
        with self._lock_:
            self._log.log(record.levelno, text)


@contextmanager
def _forward_engine_logs(log: DagsterLogManager, redact: Redactor) -> Iterator[None]:
    handler = _EventLogHandler(log, redact)
    logger = logging.getLogger("rooftop")
    level = logger.level
    # INFO records must be created for the event log (the sync's capture keeps handlers at this level).
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _LogObserver:
    """Engine progress → the run's event log; keeps the `SyncResult` even when the sync raises.

    The engine calls observers from its stream threads: one lock keeps log calls serial. Progress
    ticks are ignored (they sit on the hot path; the CLI shows them live, Dagster per stream).
    """

    def __init__(self, log: DagsterLogManager, redact: Redactor) -> None:
        self._log = log
        self._redact = redact
        self._lock = threading.Lock()
        self.result: SyncResult | None = None

    def sync_started(self, connection: str, sync_id: str, streams: list[str]) -> None:
        with self._lock:
            self._log.info(f"sync {sync_id} of {connection} started: {', '.join(streams)}")

    def stream_started(self, stream: str, result: StreamResult) -> None:
        with self._lock:
            self._log.info(f"{stream} → {result.table} ({result.sync_mode}) started")

    def stream_progress(self, stream: str, result: StreamResult) -> None:
        return None

    def stream_finished(self, stream: str, result: StreamResult) -> None:
        with self._lock:
            if result.error is None:
                self._log.info(f"{stream}: {result.rows_written:,} rows in {result.duration_seconds:.1f}s, "
                               f"{result.total_rows if result.total_rows is not None else '?'} in table, "
                               f"{result.error_count} coercion error(s)")
            else:
                self._log.error(f"{stream} failed: {type(result.error).__name__}: "
                                f"{self._redact(str(result.error))}")

    def sync_finished(self, result: SyncResult) -> None:
        self.result = result
