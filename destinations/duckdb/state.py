"""The `_rooftop` schema inside the warehouse: per-stream state and the sync log.

State lives next to the data so that one DuckDB transaction commits both (see docs/architecture.md, "The data
path"). `_rooftop.state` is append-only while syncs run: each commit appends the stream's newest
checkpoint; the newest row (highest `seq`, taken under the write lock above every stored one) per
stream wins, and `finish` prunes the older ones.

Every function takes the cursor to run on, so callers decide which transaction a statement joins
(a writer's open transaction, or a short one of its own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

from destinations.duckdb.names import Names
from protocol.types import META_SCHEMA, SyncRecord

_SYNC_COLUMNS = (
    "connection, stream, sync_id, started_at, finished_at, status, rows_read, rows_written, "
    "error_count, error_message, extra"
)


def create_rooftop_tables(cur: duckdb.DuckDBPyConnection, names: Names) -> None:
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {names.schema(META_SCHEMA)}")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {names.meta("state")} (
        connection VARCHAR, stream VARCHAR, state JSON, sync_id VARCHAR, seq BIGINT,
        committed_at TIMESTAMPTZ)""")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {names.meta("syncs")} (
        connection VARCHAR, stream VARCHAR, sync_id VARCHAR, started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ, status VARCHAR, rows_read BIGINT, rows_written BIGINT,
        error_count BIGINT, error_message VARCHAR, extra JSON)""")


def max_seq(cur: duckdb.DuckDBPyConnection, names: Names) -> int:
    row = cur.execute(f"SELECT coalesce(max(seq), 0) FROM {names.meta('state')}").fetchone()
    return int(row[0]) if row else 0


def insert_state(
    cur: duckdb.DuckDBPyConnection,
    names: Names,
    *,
    connection: str,
    stream: str,
    state: Mapping[str, Any],
    sync_id: str,
    seq: int,
) -> None:
    """Append one checkpoint; joins whatever transaction `cur` has open."""
    # Strict JSON: a state that does not round-trip would resume the next sync from garbage.
    payload = json.dumps(dict(state), sort_keys=True)
    cur.execute(
        f"INSERT INTO {names.meta('state')} VALUES (?, ?, CAST(? AS JSON), ?, ?, ?)",
        [connection, stream, payload, sync_id, seq, datetime.now(UTC)],
    )


def prune_state(cur: duckdb.DuckDBPyConnection, names: Names, *, connection: str, stream: str) -> None:
    """Drop every state row of the stream except the newest (same transaction as the newest)."""
    cur.execute(
        f"""DELETE FROM {names.meta('state')} WHERE connection = ? AND stream = ? AND seq <
            (SELECT max(seq) FROM {names.meta('state')} WHERE connection = ? AND stream = ?)""",
        [connection, stream, connection, stream],
    )


def read_state(cur: duckdb.DuckDBPyConnection, names: Names, connection: str) -> dict[str, dict[str, Any]]:
    rows = cur.execute(
        f"""SELECT stream, CAST(state AS VARCHAR) FROM {names.meta('state')} WHERE connection = ?
            QUALIFY row_number() OVER (PARTITION BY stream ORDER BY seq DESC) = 1""",
        [connection],
    ).fetchall()
    return {stream: json.loads(payload) for stream, payload in rows if payload is not None}


def upsert_sync(cur: duckdb.DuckDBPyConnection, names: Names, record: SyncRecord) -> None:
    """Replace the row of (sync_id, stream), in `cur`'s open transaction.

    Delete + insert rather than UPDATE: DuckDB has no primary key on this table (constraints would
    make concurrent appends conflict), and the row is small.
    """
    # default=str: `extra` is free-form metadata for humans (durations, cursors as datetimes);
    # a readable string beats failing the sync log.
    extra = json.dumps(dict(record.extra), default=str, sort_keys=True)
    cur.execute(
        f"DELETE FROM {names.meta('syncs')} WHERE sync_id = ? AND stream = ?", [record.sync_id, record.stream]
    )
    cur.execute(
        f"INSERT INTO {names.meta('syncs')} ({_SYNC_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS JSON))",
        [
            record.connection, record.stream, record.sync_id, record.started_at,
            record.finished_at, record.status, record.rows_read, record.rows_written,
            record.error_count, record.error_message, extra,
        ],
    )


def recent_syncs(cur: duckdb.DuckDBPyConnection, names: Names, connection: str, limit: int) -> list[SyncRecord]:
    rows = cur.execute(
        f"""SELECT connection, stream, sync_id, started_at, finished_at, status, rows_read,
                   rows_written, error_count, error_message, CAST(extra AS VARCHAR)
            FROM {names.meta('syncs')} WHERE connection = ?
            ORDER BY started_at DESC, stream LIMIT ?""",
        [connection, limit],
    ).fetchall()
    return [
        SyncRecord(
            connection=r[0], stream=r[1], sync_id=r[2], started_at=_utc(r[3]),
            finished_at=_utc(r[4]) if r[4] is not None else None, status=r[5],
            rows_read=r[6] or 0, rows_written=r[7] or 0, error_count=r[8] or 0,
            error_message=r[9], extra=json.loads(r[10]) if r[10] is not None else {},
        )
        for r in rows
    ]


def count_running(cur: duckdb.DuckDBPyConnection, names: Names, connection: str) -> int:
    row = cur.execute(f"SELECT count(*) FROM {names.meta('syncs')} WHERE connection = ? AND status = 'running'",
                      [connection]).fetchone()
    return int(row[0]) if row else 0


def mark_interrupted(cur: duckdb.DuckDBPyConnection, names: Names, connection: str) -> int:
    """Flag `running` rows of `connection` as `interrupted`; return how many.

    Only safe under the connection's lock (staging.ConnectionLock): then no other process can be
    running a sync of it, so every `running` row was left by a process that died mid-sync.
    """
    row = cur.execute(
        f"""UPDATE {names.meta('syncs')} SET status = 'interrupted', finished_at = ?
            WHERE connection = ? AND status = 'running'""",
        [datetime.now(UTC), connection],
    ).fetchone()
    return int(row[0]) if row else 0


def _utc(value: datetime) -> datetime:
    # DuckDB returns TIMESTAMPTZ in the session time zone; normalise so callers compare and print
    # consistently whatever the machine's zone.
    return value.astimezone(UTC)
