"""Warehouse-driven writes (reverse ETL): a connection's `writes:` jobs, run once.

A job is a read-only SQL query over the connection's warehouse; each row becomes one write to the
connection's source, sent through `prepare_write`/`execute_write`, so validation against what the
system accepts, the connection's rate limit and retries, and the `_rooftop.writes` records are the
same as for `rooftop write`. What a job remembers lives in those records too (no other state): each
write a job sends carries, in its recorded request, the job's name, the row's key and a hash of
the payload. From them a run knows, per key, the payload last written successfully (an unchanged row
is skipped) and how many runs failed to send the current payload (after `max_attempts` it is given
up until the payload changes). A failed row is retried simply by still being different at the next
run; a row that left the query's result is not retried.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from pipelines.config.models import WriteJob
from pipelines.engine.runner import run_sync
from pipelines.workspace.connection import LoadedConnection
from pipelines.writes.submit import append_write_rows, execute_write, list_writes, prepare_write, synced_streams
from pipelines.writes.targets import refresh_of
from protocol.errors import ConfigError, RooftopError
from protocol.unified import ID_SEPARATOR

IN_DOUBT = ("queued", "running", "needs_check")


@dataclass
class JobRun:
    """What one run of a write job did, row by row counted."""

    connection: str
    job: str
    rows: int = 0
    sent: int = 0
    skipped_unchanged: int = 0
    failed: int = 0
    given_up: int = 0
    """Rows whose payload already failed `max_attempts` times: not sent."""
    in_doubt: int = 0
    """Rows whose last write is still queued, running or needs_check: not sent again."""
    errors: list[str] = field(default_factory=list)
    refreshed_sync_id: str | None = None

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "sent": self.sent, "skipped_unchanged": self.skipped_unchanged,
                "failed": self.failed, "given_up": self.given_up, "in_doubt": self.in_doubt}


def find_job(conn: LoadedConnection, name: str) -> WriteJob:
    for job in conn.config.writes:
        if job.name == name:
            return job
    known = ", ".join(job.name for job in conn.config.writes) or "none"
    raise ConfigError(f"connection {conn.name!r} ({conn.file}) has no write job {name!r} (write jobs: {known})")


def run_write_job(conn: LoadedConnection, name: str, *, refresh: bool = True) -> JobRun:
    """Run one job now: query, skip unchanged rows, send the others one by one, then re-read the resource once."""
    job = find_job(conn, name)
    rows = query_warehouse(conn, job)
    history = _history(conn, job)
    run = JobRun(conn.name, job.name, rows=len(rows))
    for row in rows:
        key, payload = _key_and_payload(conn, job, row)
        digest = payload_hash(payload)
        state = history.get(key)
        if state is not None and state.in_doubt:
            run.in_doubt += 1
        elif state is not None and state.succeeded == digest:
            run.skipped_unchanged += 1
        elif state is not None and state.failures[digest] >= job.max_attempts:
            run.given_up += 1
        else:
            error = _send(conn, job, key, payload, digest)
            if error is None:
                run.sent += 1
            else:
                run.failed += 1
                run.errors.append(f"{key}: {error}")
    streams = synced_streams(conn, refresh_of(conn, job.resource)) if run.sent and job.operation == "update" else []
    if refresh and streams:
        # One targeted sync for the whole batch, not one per row (execute_write's default).
        try:
            run.refreshed_sync_id = run_sync(conn, streams=streams).sync_id
        except RooftopError as exc:
            run.errors.append(conn.redactor(f"sent, but the re-read into the warehouse failed: {exc}"))
    return run


def query_warehouse(conn: LoadedConnection, job: WriteJob) -> list[dict[str, Any]]:
    """The job's rows, read with a read-only connection of the connection's own warehouse."""
    where = f"{conn.file}: write job {job.name!r}"
    kind = conn.config.destination.connector
    destination = conn.make_destination()
    try:
        if kind == "duckdb":
            path = str(getattr(destination, "path", ":memory:"))
            if path == ":memory:":
                raise ConfigError(f"{where}: an in-memory DuckDB warehouse has nothing to query")
            with duckdb.connect(path, read_only=True) as db:
                cursor = db.execute(job.sql)
                names = [d[0] for d in cursor.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if kind == "postgres":
            url = getattr(conn.destination_config, "sqlalchemy_url")()  # noqa: B009 - PostgresConfig only
            engine = sa.create_engine(url, poolclass=NullPool)
            try:
                with engine.connect() as pg:
                    pg.execute(sa.text("SET TRANSACTION READ ONLY"))
                    return [dict(r) for r in pg.execute(sa.text(job.sql)).mappings()]
            finally:
                engine.dispose()
    except (duckdb.Error, sa.exc.SQLAlchemyError) as exc:
        raise ConfigError(conn.redactor(f"{where}: the query failed: {exc}")) from None
    raise ConfigError(f"{where}: write jobs query DuckDB or Postgres warehouses, not {kind}")


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class _KeyHistory:
    succeeded: str | None = None
    """Hash of the payload last written successfully."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failed writes per payload hash, since the last success."""
    in_doubt: bool = False


def _history(conn: LoadedConnection, job: WriteJob) -> dict[str, _KeyHistory]:
    history: defaultdict[str, _KeyHistory] = defaultdict(_KeyHistory)
    for write in list_writes(conn):  # each write in its newest state, oldest first
        request = _json(write["request"])
        if not isinstance(request, dict) or request.get("job") != job.name:
            continue
        state = history[str(request.get("key"))]
        digest = str(request.get("payload_hash"))
        state.in_doubt = write["status"] in IN_DOUBT
        if write["status"] == "succeeded":
            state.succeeded, state.failures = digest, Counter()
        elif write["status"] == "failed":
            state.failures[digest] += 1
    return history


def _key_and_payload(conn: LoadedConnection, job: WriteJob, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mapping = job.fields if job.fields is not None else {column: column for column in row if column != job.key}
    missing = [column for column in [job.key, *mapping] if column not in row]
    if missing:
        raise ConfigError(f"{conn.file}: write job {job.name!r}: the query returns no column "
                          f"{', '.join(missing)} (columns: {', '.join(row)})")
    if row[job.key] is None:
        raise ConfigError(f"{conn.file}: write job {job.name!r}: a row has no {job.key!r} (the key column)")
    return str(row[job.key]), {name: _json_value(row[column]) for column, name in mapping.items()}


def _send(conn: LoadedConnection, job: WriteJob, key: str, payload: dict[str, Any], digest: str) -> str | None:
    """Send one row's write; None when it succeeded, else its (recorded) error."""
    tags = {"job": job.name, "key": key, "payload_hash": digest}
    try:
        record_id = None if job.operation == "create" else _vendor_id(conn, key)
        pending = prepare_write(conn, job.resource, record_id, payload)
    except ConfigError as exc:
        # Refused before sending (a field the system does not take, a wrong type): recorded as a
        # failed write all the same, so it counts towards max_attempts.
        _record_refused(conn, job, key, payload, tags, str(exc))
        return conn.redactor(str(exc))
    pending.request.update(tags)  # the rows from `running` on carry the job's bookkeeping
    try:
        execute_write(conn, pending, refresh=False)
    except RooftopError as exc:
        return conn.redactor(str(exc))
    return None


def _vendor_id(conn: LoadedConnection, key: str) -> str:
    if key.count(ID_SEPARATOR) < 2:
        return key
    _system, named, vendor_id = key.split(ID_SEPARATOR, 2)
    if named != conn.name:
        raise ConfigError(f"the id {key!r} belongs to connection {named!r}, not {conn.name!r}")
    return vendor_id


def _record_refused(conn: LoadedConnection, job: WriteJob, key: str, payload: dict[str, Any],
                    tags: dict[str, str], error: str) -> None:
    request = {"method": "POST" if job.operation == "create" else "PUT", "resource": job.resource,
               "record_id": None if job.operation == "create" else key, "payload": payload, **tags}
    append_write_rows(conn, [{
        "connection": conn.name, "write_id": f"w-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",
        "recorded_at": datetime.now(UTC), "status": "failed", "resource": job.resource,
        "operation": job.operation, "record_id": request["record_id"], "attempts": 0, "ignored_fields": "[]",
        "request": conn.redactor(json.dumps(request, default=str)), "response": None,
        "error": conn.redactor(error)}])


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
