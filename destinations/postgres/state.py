"""The `_rooftop` schema in a Postgres warehouse: per-stream state and the sync log.

State lives in the same database as the data so that one transaction commits both (docs/architecture.md, "The
data path"). Unlike DuckDB, PostgreSQL handles concurrent updates of different rows without
conflicts, so `_rooftop.state` keeps one row per (connection, stream), upserted by the writer's own
transaction. Every function takes the SQLAlchemy connection to run on, so callers decide which
transaction a statement joins. The other `_rooftop` tables (`protocol.bookkeeping`: sync logs, properties,
diffs) are `bookkeeping.py`'s; `create_rooftop_tables` creates them together with these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from destinations.postgres import bookkeeping
from destinations.sql_naming import qualified, quote_ident
from protocol.types import META_SCHEMA, SyncRecord

STATE = qualified(META_SCHEMA, "state")
SYNCS = qualified(META_SCHEMA, "syncs")
DDL_LOCK = 7_460_301_001
"""Advisory lock key serialising Rooftop's catalog changes (CREATE SCHEMA IF NOT EXISTS races)."""

_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {quote_ident(META_SCHEMA)}",
    f"""CREATE TABLE IF NOT EXISTS {STATE} (
        connection text NOT NULL, stream text NOT NULL, state jsonb, sync_id text,
        committed_at timestamptz, PRIMARY KEY (connection, stream))""",
    f"""CREATE TABLE IF NOT EXISTS {SYNCS} (
        connection text, stream text NOT NULL, sync_id text NOT NULL, started_at timestamptz,
        finished_at timestamptz, status text, rows_read bigint, rows_written bigint,
        error_count bigint, error_message text, extra jsonb, PRIMARY KEY (sync_id, stream))""",
)


def create_rooftop_tables(conn: sa.Connection) -> None:
    with conn.begin():
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DDL_LOCK})
        for statement in _DDL:
            conn.execute(sa.text(statement))
        bookkeeping.create_tables(conn)


def upsert_state(conn: sa.Connection, *, connection: str, stream: str, state: Mapping[str, Any],
                 sync_id: str) -> None:
    """Write the stream's checkpoint; joins the transaction `conn` has open."""
    # Strict JSON: a state that does not round-trip would resume the next sync from garbage.
    payload = json.dumps(dict(state), sort_keys=True)
    conn.execute(sa.text(
        f"""INSERT INTO {STATE} (connection, stream, state, sync_id, committed_at)
            VALUES (:c, :s, CAST(:p AS jsonb), :i, :t)
            ON CONFLICT (connection, stream) DO UPDATE SET state = EXCLUDED.state,
              sync_id = EXCLUDED.sync_id, committed_at = EXCLUDED.committed_at"""),
        {"c": connection, "s": stream, "p": payload, "i": sync_id, "t": datetime.now(UTC)})


def read_state(conn: sa.Connection, connection: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(sa.text(f"SELECT stream, state::text FROM {STATE} WHERE connection = :c"),
                        {"c": connection}).all()
    return {stream: json.loads(payload) for stream, payload in rows if payload is not None}


def upsert_sync(conn: sa.Connection, record: SyncRecord) -> None:
    # default=str: `extra` is free-form metadata for humans (durations, cursors as datetimes).
    extra = json.dumps(dict(record.extra), default=str, sort_keys=True)
    conn.execute(sa.text(
        f"""INSERT INTO {SYNCS} (connection, stream, sync_id, started_at, finished_at, status,
              rows_read, rows_written, error_count, error_message, extra)
            VALUES (:connection, :stream, :sync_id, :started_at, :finished_at, :status, :rows_read,
              :rows_written, :error_count, :error_message, CAST(:extra AS jsonb))
            ON CONFLICT (sync_id, stream) DO UPDATE SET connection = EXCLUDED.connection,
              started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
              status = EXCLUDED.status, rows_read = EXCLUDED.rows_read,
              rows_written = EXCLUDED.rows_written, error_count = EXCLUDED.error_count,
              error_message = EXCLUDED.error_message, extra = EXCLUDED.extra"""),
        {"connection": record.connection, "stream": record.stream, "sync_id": record.sync_id,
         "started_at": record.started_at, "finished_at": record.finished_at, "status": record.status,
         "rows_read": record.rows_read, "rows_written": record.rows_written,
         "error_count": record.error_count, "error_message": record.error_message, "extra": extra})


def recent_syncs(conn: sa.Connection, connection: str, limit: int) -> list[SyncRecord]:
    rows = conn.execute(sa.text(
        f"""SELECT connection, stream, sync_id, started_at, finished_at, status, rows_read,
                   rows_written, error_count, error_message, extra::text
            FROM {SYNCS} WHERE connection = :c ORDER BY started_at DESC, stream LIMIT :n"""),
        {"c": connection, "n": limit}).all()
    return [
        SyncRecord(
            connection=r[0], stream=r[1], sync_id=r[2], started_at=r[3].astimezone(UTC),
            finished_at=r[4].astimezone(UTC) if r[4] is not None else None, status=r[5],
            rows_read=r[6] or 0, rows_written=r[7] or 0, error_count=r[8] or 0,
            error_message=r[9], extra=json.loads(r[10]) if r[10] is not None else {},
        )
        for r in rows
    ]


def mark_interrupted(conn: sa.Connection, connection: str) -> int:
    """Flag `running` rows of `connection` as `interrupted`; only safe under the connection's lock."""
    result = conn.execute(sa.text(
        f"""UPDATE {SYNCS} SET status = 'interrupted', finished_at = :t
            WHERE connection = :c AND status = 'running'"""), {"t": datetime.now(UTC), "c": connection})
    return int(result.rowcount or 0)
