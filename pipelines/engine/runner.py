"""`run_sync`: the one code path that moves a connection's data, for the CLI and for Dagster.

Order matters for the guarantees in docs/architecture.md: the source is opened and its catalog resolved
against the YAML *before* the destination is touched, so bad input never changes a warehouse. Each
stream then runs in its own thread (bounded by `max_concurrency`) with its own writer; a stream
commits its latest source checkpoint together with the rows it covers every `commit_every_rows`,
and a failing stream is recorded and rolled back without stopping the others.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from pipelines.config.redact import Redactor
from pipelines.engine.batching import PageGatherer
from pipelines.engine.cursor_check import CursorCheck
from pipelines.engine.notify import build_event, notify
from pipelines.engine.observer import NullObserver, SyncObserver
from pipelines.engine.plan import StreamPlan, plan_streams
from pipelines.engine.property_selection import check_supported, select_properties
from pipelines.engine.read_windows import RowFilter, StateGuard, read_window
from pipelines.engine.schema_changes import reconcile
from pipelines.engine.sync_log import SyncLogCapture
from pipelines.engine.transform import BatchTransformer
from pipelines.workspace.connection import LoadedConnection
from protocol.bookkeeping import SYNC_LOGS
from protocol.errors import RooftopError, SyncFailed, TransientError
from protocol.schema_store import destination_schema_store
from protocol.state_versions import STATE_MIGRATIONS, StateMigrations
from protocol.types import (
    Catalog,
    Destination,
    PropertyScope,
    ReadRequest,
    Source,
    SourceItem,
    StateCheckpoint,
    StreamWriter,
    SyncRecord,
    TableSpec,
)

log = logging.getLogger("rooftop.engine")
COMMIT_EVERY_SECONDS = 60.0
Preflight = Callable[[Catalog], None]


@dataclass
class StreamResult:
    stream: str
    table: str
    sync_mode: str
    status: str = "running"
    rows_read: int = 0
    rows_written: int = 0
    total_rows: int | None = None
    error_count: int = 0
    cursor: Any = None
    checkpoints: int = 0
    started: float = field(default_factory=time.monotonic)
    duration_seconds: float = 0.0
    error: BaseException | None = None
    columns: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SyncResult:
    connection: str
    sync_id: str
    streams: list[StreamResult]

    @property
    def ok(self) -> bool:
        return all(s.status == "succeeded" for s in self.streams)


def new_sync_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunContext:
    """Where a sync runs from, for notifications: a Dagster run passes its URL and attempt."""

    dagster_run_url: str | None = None
    attempt: int = 1
    max_attempts: int = 1


def run_sync(conn: LoadedConnection, *, streams: list[str] | None = None, full_refresh: bool = False,
             since: date | None = None, observer: SyncObserver | None = None, sync_id: str | None = None,
             run_context: RunContext | None = None, preflight: Preflight | None = None,
             state_migrations: StateMigrations = STATE_MIGRATIONS) -> SyncResult:
    """Sync `conn` (or some of its streams). Raises SyncFailed naming every failed stream.

    `since` is a backsync: incremental streams re-read from that day (merging or appending) and
    keep their saved cursor unless the re-read passes it. The structured log of the sync goes to
    the destination's `_rooftop.sync_logs`; the `notify:` webhooks hear how it ended.
    `preflight(catalog)` runs after planning and before the destination is opened: a check that
    needs more than this connection (the CLI's table collisions, `pipelines.engine.collisions`) raises there.
    Saved states are read through `state_migrations` (Rooftop's own chain unless a test passes another)
    and written stamped with its current version (protocol.state_versions).
    """
    observer = observer or NullObserver()
    sync_id = sync_id or new_sync_id()
    started_at = datetime.now(UTC)
    result: SyncResult | None = None
    error: Exception | None = None
    try:
        with SyncLogCapture(conn.name, sync_id, conn.redactor) as capture:
            result = _run(conn, streams, full_refresh, since, observer, sync_id, capture, started_at, preflight,
                          state_migrations)
        failures = {r.stream: r.error for r in result.streams if r.error is not None}
        if failures:
            error = SyncFailed(conn.name, failures)
    except Exception as exc:
        error = exc
        raise
    finally:
        _notify(conn, sync_id, started_at, result, error, run_context or RunContext())
    if error is not None:
        raise error
    return result


def _run(conn: LoadedConnection, streams: list[str] | None, full_refresh: bool, since: date | None,
         observer: SyncObserver, sync_id: str, capture: SyncLogCapture, started_at: datetime,
         preflight: Preflight | None, migrations: StateMigrations) -> SyncResult:
    destination = conn.make_destination()
    schemas = destination_schema_store(destination)  # what rest_api infers lives in the warehouse
    with conn.make_source(schema_store=schemas) as source:
        catalog = _discover(source, streams)
        plans = plan_streams(conn, catalog, destination.default_namespace, only=streams)
        check_supported(conn, catalog)
        if preflight is not None:
            preflight(catalog)
        with destination:
            # First, before this sync writes anything (not even its log): a state saved by a newer
            # Rooftop stops it here, so an older one never overwrites what it cannot read.
            stored = destination.read_state(conn.name)
            names = set() if full_refresh else {p.name for p in plans}
            saved = migrations.upgrade_all(stored, connection=conn.name, source=source, streams=names)
            try:
                # Before anything is written: under `schema_changes: fail` a changed source stops here.
                plans, blocked = reconcile(plans, destination, conn.config.schema_changes, conn.name,
                                           destination.recent_syncs(conn.name, limit=200))
                interrupted = destination.mark_interrupted(conn.name)
                if interrupted:
                    log.warning("marked %d stream sync(s) of %s left running by a killed process as interrupted",
                                interrupted, conn.name, extra={"event": "interrupted_found", "count": interrupted})
                _apply_retention(conn, destination, started_at)
                observer.sync_started(conn.name, sync_id, [p.name for p in plans])
                log.info("sync %s of %s started: %s", sync_id, conn.name, ", ".join(p.name for p in plans),
                         extra={"event": "sync_started", "sync_id": sync_id, "connection": conn.name,
                                "since": since.isoformat() if since else None, "full_refresh": full_refresh})
                selection = select_properties(conn, source, catalog, destination, sync_id)
                runner = _StreamRunner(conn, source, destination, sync_id, observer, since=since,
                                       properties=selection, scope=catalog.properties, migrations=migrations)
                workers = min(conn.config.max_concurrency, max(1, len(plans)))
                run_one = capture.wrap(lambda p: runner.run(p, saved.get(p.name), blocked.get(p.name)))
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"rooftop-{conn.name}") as pool:
                    results = list(pool.map(run_one, plans))
                result = SyncResult(conn.name, sync_id, results)
                observer.sync_finished(result)
                _log_summary(result, capture, started_at)
                return result
            finally:
                if schemas is not None:
                    schemas.flush_or_warn()  # DuckDB: joins the sync log's transaction
                _store_log(destination, capture)


def _discover(source: Source, streams: list[str] | None) -> Catalog:
    """The catalog; a source that can discover only some streams (`discover(streams=...)`, as
    rest_api does: schemas it would have to sample from the API) is asked for just those."""
    if streams and "streams" in inspect.signature(source.discover).parameters:
        discover_some: Callable[..., Catalog] = source.discover
        return discover_some(streams=streams)
    return source.discover()


def _log_summary(result: SyncResult, capture: SyncLogCapture, started_at: datetime) -> None:
    counts = capture.counts()
    failed = [r.stream for r in result.streams if r.error is not None]
    log.info("sync %s of %s finished: %s", result.sync_id, result.connection, "ok" if not failed else "failed",
             extra={"event": "sync_finished", "sync_id": result.sync_id, "ok": not failed, "failed_streams": failed,
                    "rows_written": sum(r.rows_written for r in result.streams),
                    "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 3),
                    "requests": counts.get("http_request", 0), "retries": counts.get("http_retry", 0),
                    "rate_limit_waits": counts.get("rate_limit_wait", 0)})


def _store_log(destination: Destination, capture: SyncLogCapture) -> None:
    try:
        destination.append_bookkeeping(SYNC_LOGS, capture.rows())
    except Exception as exc:  # noqa: BLE001 - losing the log must not turn a synced connection into a failure
        log.error("could not store the sync log in _rooftop.sync_logs: %s", exc, extra={"event": "sync_log_lost"})


def _apply_retention(conn: LoadedConnection, destination: Destination, now: datetime) -> None:
    keep = conn.config.retention
    history = timedelta(seconds=keep.history)
    diffs = timedelta(seconds=keep.diffs)
    pruned = {name: destination.prune_history(name, conn.name, now - age)
              for name, age in (("syncs", history), ("sync_logs", history), ("diffs", diffs))}
    if any(pruned.values()):
        log.info("retention: pruned %s", ", ".join(f"{n} {name}" for name, n in pruned.items() if n),
                 extra={"event": "retention_pruned", **pruned})


def _notify(conn: LoadedConnection, sync_id: str, started_at: datetime, result: SyncResult | None,
            error: Exception | None, context: RunContext) -> None:
    if not conn.config.notify:
        return
    retryable = isinstance(error, TransientError) or (isinstance(error, SyncFailed) and error.retryable)
    final = error is None or not retryable or context.attempt >= context.max_attempts
    if error is not None and not final:
        return  # the orchestrator retries: announce the attempt that decides
    event = build_event(conn.config, sync_id, result.streams if result else [], started_at, datetime.now(UTC),
                        error, dagster_run_url=context.dagster_run_url, attempt=context.attempt, final=final)
    notify(conn.config.notify, event, conn.redactor)


class _StreamRunner:
    def __init__(self, conn: LoadedConnection, source: Source, destination: Destination, sync_id: str,
                 observer: SyncObserver, *, since: date | None, properties: frozenset[str] | None,
                 scope: PropertyScope | None, migrations: StateMigrations) -> None:
        self.since = since
        self.migrations = migrations
        self.properties = properties
        self.scope = scope
        self.conn = conn
        self.source = source
        self.destination = destination
        self.sync_id = sync_id
        self.observer = observer
        self.redact = conn.redactor

    def run(self, plan: StreamPlan, state: Mapping[str, Any] | None,
            blocked: Exception | None = None) -> StreamResult:
        result = StreamResult(stream=plan.name, table=f"{plan.table.namespace}.{plan.table.table}",
                              sync_mode=plan.sync_mode.value,
                              columns=[(f.name, str(f.type)) for f in plan.table.schema])
        started_at = datetime.now(UTC)
        record = SyncRecord(self.conn.name, plan.name, self.sync_id, started_at)
        self.destination.record_sync(record)
        self.observer.stream_started(plan.name, result)
        writer: StreamWriter | None = None
        try:
            if blocked is not None:
                raise blocked  # a breaking schema change: the stream stops before it writes
            writer = self.destination.prepare(self._table_spec(plan), self.sync_id)
            self._copy(plan, state, writer, result)
            result.status = "succeeded"
        except Exception as exc:  # one stream's failure must not abort the others
            result.status = "failed"
            result.error = _redacted(exc, self.redact)
            if writer is not None:
                writer.abort()
            # The traceback goes with the record (the sync log and Dagster keep it); the console
            # shows it only under --debug (pipelines.engine.log_handlers).
            log.error("stream %s failed: %s", plan.name, self.redact(str(exc)),
                      extra={"event": "stream_failed", "stream": plan.name}, exc_info=exc)
        result.duration_seconds = time.monotonic() - result.started
        self.destination.record_sync(SyncRecord(
            self.conn.name, plan.name, self.sync_id, started_at, finished_at=datetime.now(UTC),
            status=result.status, rows_read=result.rows_read, rows_written=result.rows_written,
            error_count=result.error_count,
            error_message=None if result.error is None else f"{type(result.error).__name__}: {result.error}",
            extra={"cursor": result.cursor, "sync_mode": result.sync_mode, "total_rows": result.total_rows,
                   "namespace": plan.table.namespace, "table": plan.table.table,
                   "cursor_field": plan.cursor_field, "primary_key": list(plan.primary_key),
                   "duration_seconds": round(result.duration_seconds, 3)}))
        self.observer.stream_finished(plan.name, result)
        return result

    def _table_spec(self, plan: StreamPlan) -> TableSpec:
        """The plan's table; a first load records no diffs (every key would read `inserted`).

        "First load" = the table does not exist yet: a catalog lookup, where counting rows would
        scan a large Postgres table at every sync.
        """
        spec = plan.table
        if spec.record_diffs and self.destination.describe_table(spec.namespace, spec.table) is None:
            log.info("stream %s: first load of %s.%s, no diffs recorded", plan.name, spec.namespace, spec.table,
                     extra={"event": "diffs_skipped", "stream": plan.name, "reason": "first_load"})
            return replace(spec, record_diffs=False)
        return spec

    def _copy(self, plan: StreamPlan, state: Mapping[str, Any] | None, writer: StreamWriter,
              result: StreamResult) -> None:
        transformer = BatchTransformer(plan, self.sync_id, getattr(self.destination, "storage_limits", None))
        # Pages are transformed, checked and written in batches of ~BATCH_ROWS rows (see batching.py).
        gathered = PageGatherer(commit_every=self.destination.commit_every_rows)
        window = read_window(plan, self.conn.config, state, self.since)
        guard = StateGuard(state, window.backsync)
        members = self.scope.members if self.properties is not None and self.scope is not None else {}
        scoped = plan.name in members
        properties = self.properties if scoped else None
        row_filter = RowFilter(plan, window, properties, members.get(plan.name) if scoped else None)
        request = ReadRequest(stream=plan.stream, incremental=plan.sync_mode.incremental,
                              cursor_field=plan.cursor_field, state=window.state,
                              start_date=window.start, end_date=window.end, fields=_read_fields(plan),
                              lookback_seconds=window.lookback_seconds, properties=properties)
        if window.backsync:
            log.info("stream %s: backsync from %s (saved cursor %s is kept until passed)", plan.name, window.start,
                     (state or {}).get("cursor"), extra={"event": "backsync", "stream": plan.name,
                                                         "since": str(window.start)})
        result.cursor = (state or {}).get("cursor") if plan.sync_mode.incremental else None
        cursor_check = CursorCheck(plan)
        latest: Mapping[str, Any] | None = None
        pending_rows = 0
        last_commit = time.monotonic()
        every = self.destination.commit_every_rows

        def load(raw: pa.RecordBatch | None) -> None:
            nonlocal pending_rows
            if raw is None:
                return
            batch, errors = transformer.apply(raw, datetime.now(UTC))
            cursor_check.rows(batch)
            batch = row_filter.apply(batch)
            if batch.num_rows:
                writer.write(batch)
            result.rows_written += batch.num_rows
            result.error_count += errors
            pending_rows += batch.num_rows

        def due(rows: int) -> bool:
            return rows >= every or bool(rows and time.monotonic() - last_commit > COMMIT_EVERY_SECONDS)

        with _closing(self.source.read(request)) as items:
            for item in items:
                if isinstance(item, StateCheckpoint):
                    cursor_check.checkpoint(item.state)
                    latest = guard(item.state)
                    if due(pending_rows + gathered.held_rows):
                        load(gathered.take())  # a state is committed with every row it covers
                        if due(pending_rows):
                            cursor_check.before_commit()
                            self._commit(plan, writer, latest, result)
                            pending_rows, last_commit = 0, time.monotonic()
                    continue
                if not isinstance(item, pa.RecordBatch):
                    raise TypeError(f"source yielded {type(item).__name__}, not a RecordBatch or StateCheckpoint")
                if item.num_rows == 0:
                    continue
                result.rows_read += item.num_rows
                for ready in gathered.add(item):
                    load(ready)
                if not plan.sync_mode.incremental and pending_rows >= every:
                    # Full refreshes restart from scratch anyway; committing their staging rows only
                    # bounds the size of the open transaction.
                    self._commit(plan, writer, None, result)
                    pending_rows, last_commit = 0, time.monotonic()
                self.observer.stream_progress(plan.name, result)
        load(gathered.take())
        cursor_check.before_commit()
        log.info("stream %s: final commit", plan.name,
                 extra={"event": "commit_started", "stream": plan.name, "final": True})
        result.total_rows = writer.finish(self.migrations.stamp(latest, self.source))
        if latest is not None:
            result.cursor = latest.get("cursor")
            result.checkpoints += 1
        log.info("stream %s: %d rows, %d in table", plan.name, result.rows_written, result.total_rows or 0,
                 extra={"event": "stream_finished", "stream": plan.name, "rows": result.rows_written})

    def _commit(self, plan: StreamPlan, writer: StreamWriter, state: Mapping[str, Any] | None,
                result: StreamResult) -> None:
        log.info("stream %s: committing checkpoint", plan.name,
                 extra={"event": "commit_started", "stream": plan.name, "final": False})
        writer.commit(self.migrations.stamp(state, self.source))
        if state is not None:
            result.checkpoints += 1
            result.cursor = state.get("cursor")
        log.info("stream %s: checkpoint %d committed", plan.name, result.checkpoints,
                 extra={"event": "checkpoint_committed", "stream": plan.name, "n": result.checkpoints})
        self.observer.stream_progress(plan.name, result)


@contextlib.contextmanager
def _closing(items: Iterator[SourceItem]) -> Iterator[Iterator[SourceItem]]:
    """The source's items, closed when the stream ends however it ends: a source's read-ahead thread
    (rest_api) stops now, not when the garbage collector finds the iterator, which a failed stream's
    kept traceback could delay for as long as anyone holds the error."""
    close = getattr(items, "close", None)
    try:
        yield items
    except BaseException:
        if close is not None:
            with contextlib.suppress(Exception):  # the stream's own error is the one to report
                close()
        raise
    if close is not None:
        close()


def _read_fields(plan: StreamPlan) -> tuple[str, ...]:
    """What the source must read: the selected columns and the tombstone field, if tracked."""
    names = list(plan.source_schema.names)
    if plan.stream.deleted_field and plan.stream.deleted_field not in names:
        names.append(plan.stream.deleted_field)
    return tuple(names)


def _redacted(exc: Exception, redact: Redactor) -> BaseException:
    """The same error class (so retry decisions hold) with any secret masked in its message."""
    text = str(exc)
    clean = redact(text)
    if clean == text:
        return exc
    try:
        masked = type(exc)(clean)
    except TypeError:
        masked = RooftopError(clean)
    masked.__cause__ = None
    return masked
