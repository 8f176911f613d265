"""`DuckDBDestination`: the embedded default warehouse (one `.duckdb` file, no server).

This module owns the connection's life cycle (lock wait, settings, `_rooftop` tables), the
catalog changes `prepare` makes (schemas, tables, added columns, staging tables) and the sync log.
Writing rows is `writer.py`'s job; the `_rooftop` SQL is `state.py`'s (state, sync log) and
`bookkeeping.py`'s (the generic meta tables of `protocol.bookkeeping`; diffs: `diffs.py`).

Threads: the root connection is never used for queries. Metadata calls share one cursor behind
`_meta_lock`; catalog changes share another behind `_ddl_lock` (DDL is serialised, each change in
its own committed transaction); every writer gets a cursor, hence a transaction, of its own.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from destinations.duckdb import bookkeeping, lookup
from destinations.duckdb import state as meta
from destinations.duckdb.config import DuckDBConfig
from destinations.duckdb.connection import MEMORY, apply_settings, connect_waiting_for_lock, rollback
from destinations.duckdb.names import Names
from destinations.duckdb.writer import Boundary, DuckDBStreamWriter, WritePlan, WriterContext
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import BookkeepingTable, StorageLimits
from protocol.errors import ConfigError
from protocol.types import SyncMode, SyncRecord, TableSpec

STAGING_PREFIX = "_rooftop_stage_"
"""Staging tables live next to their target: `"<db>"."<ns>"."_rooftop_stage_<table>"`, so the final
rename stays inside one schema (DuckDB cannot move a table between schemas by renaming)."""

_STAGED_MODES = (SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND)


class DuckDBDestination:
    """`protocol.types.Destination` for a DuckDB file. Use as a context manager."""

    name: ClassVar[str] = "duckdb"
    config_model: ClassVar[type[BaseModel]] = DuckDBConfig
    # Values outside these are nulled and recorded by the engine (protocol.bookkeeping).
    storage_limits: ClassVar[StorageLimits] = StorageLimits()

    def __init__(self, config: DuckDBConfig, *, root: Path) -> None:
        self.config = config
        self.default_namespace = "main"
        self.commit_every_rows = config.commit_every_rows
        self.path: str = config.path if config.path == MEMORY else str((root / config.path).resolve())
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._bookkeeping_cur: duckdb.DuckDBPyConnection | None = None
        self._ddl_cur: duckdb.DuckDBPyConnection | None = None
        self._bookkeeping_lock = threading.Lock()
        self._ddl_lock = threading.Lock()
        self._writers_lock = threading.Lock()
        self._writers: set[DuckDBStreamWriter] = set()
        self._seq = meta.SeqCounter()
        self._names = Names("")  # set on entering: the file's catalog name (names.py)

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError(f"DuckDB destination {self.path} is already open")
        conn = connect_waiting_for_lock(self.path, self.config.lock_timeout_seconds)
        try:
            apply_settings(conn, memory_limit=self.config.memory_limit, threads=self.config.threads)
            self._bookkeeping_cur = conn.cursor()
            self._ddl_cur = conn.cursor()
            self._names = Names.of(self._bookkeeping_cur)
            meta.create_rooftop_tables(self._bookkeeping_cur, self._names)
            bookkeeping.create_tables(self._bookkeeping_cur, self._names)
            self._seq = meta.SeqCounter(meta.max_seq(self._bookkeeping_cur, self._names))
        except BaseException:
            self._close_connection(conn)
            raise
        self._conn = conn
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn = self._conn
        if conn is None:
            return
        with self._writers_lock:
            writers = list(self._writers)
        # ExitStack runs every abort and the close even if one of them raises, then re-raises.
        with contextlib.ExitStack() as stack:
            stack.callback(self._close_connection, conn)
            for writer in writers:
                stack.callback(writer.abort)

    def _close_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        # Cursors keep the database (and its file lock) alive; close them before the root.
        with contextlib.ExitStack() as stack:
            stack.callback(conn.close)
            for cur in (self._ddl_cur, self._bookkeeping_cur):
                if cur is not None:
                    stack.callback(cur.close)
            self._conn = self._bookkeeping_cur = self._ddl_cur = None

    def check(self) -> None:
        """Open the file (waiting for the lock like a sync would) and prove it takes a write."""
        if self._conn is None:
            with self:
                self._verify_writable()
        else:
            self._verify_writable()

    def _verify_writable(self) -> None:
        probe = self._names.meta(f"_check_{uuid.uuid4().hex}")
        with self._bookkeeping_lock:
            cur = self._require(self._bookkeeping_cur)
            cur.execute(f"CREATE TABLE {probe} AS SELECT 1 AS ok")
            cur.execute(f"DROP TABLE {probe}")

    # -- state and sync log ---------------------------------------------------------------------

    def read_state(self, connection: str) -> dict[str, dict[str, Any]]:
        with self._bookkeeping_lock:
            return meta.read_state(self._require(self._bookkeeping_cur), self._names, connection)

    def record_sync(self, record: SyncRecord) -> None:
        with self._bookkeeping_lock:
            meta.upsert_sync(self._require(self._bookkeeping_cur), self._names, record)

    def recent_syncs(self, connection: str, limit: int = 20) -> list[SyncRecord]:
        with self._bookkeeping_lock:
            return meta.recent_syncs(self._require(self._bookkeeping_cur), self._names, connection, limit)

    def mark_interrupted(self, connection: str) -> int:
        with self._bookkeeping_lock:
            return meta.mark_interrupted(self._require(self._bookkeeping_cur), self._names, connection)

    # -- the other _rooftop tables (bookkeeping.py) ----------------------------------------------

    def append_bookkeeping(self, table: BookkeepingTable, rows: pa.Table) -> None:
        with self._bookkeeping_lock:
            bookkeeping.append(self._require(self._bookkeeping_cur), self._names, table, rows)

    def read_bookkeeping(self, table: BookkeepingTable, connection: str,
                         where: Mapping[str, str] | None = None) -> pa.Table:
        with self._bookkeeping_lock:
            return bookkeeping.read(self._require(self._bookkeeping_cur), self._names, table, connection, where)

    def prune_history(self, name: str, connection: str, before: datetime) -> int:
        with self._bookkeeping_lock:
            return bookkeeping.prune(self._require(self._bookkeeping_cur), self._names, name, connection, before)

    def record_exists(self, namespace: str, table: str, column: str, value: str) -> bool:
        return lookup.record_exists(self.path, self.config.lock_timeout_seconds, namespace, table, column, value)

    def table_stats(self, namespace: str, table: str) -> int | None:
        with self._bookkeeping_lock:
            cur = self._require(self._bookkeeping_cur)
            if _table_columns(cur, namespace, table) is None:
                return None
            row = cur.execute(f"SELECT count(*) FROM {self._names.table(namespace, table)}").fetchone()
            return int(row[0]) if row else 0

    def describe_table(self, namespace: str, table: str) -> pa.Schema | None:
        with self._bookkeeping_lock:
            cur = self._require(self._bookkeeping_cur)
            if _table_columns(cur, namespace, table) is None:
                return None
            schema = cur.sql(f"SELECT * FROM {self._names.table(namespace, table)} LIMIT 0").to_arrow_table().schema
        return pa.schema([f.with_type(_normal_type(f.type)) for f in schema])

    def count_duplicate_keys(self, namespace: str, table: str, keys: tuple[str, ...]) -> int:
        if not keys:
            raise ValueError("count_duplicate_keys needs at least one key column")
        columns = ", ".join(quote_ident(k) for k in keys)
        with self._bookkeeping_lock:
            cur = self._require(self._bookkeeping_cur)
            if _table_columns(cur, namespace, table) is None:
                return 0
            row = cur.execute(f"SELECT count(*) FROM (SELECT {columns} FROM {self._names.table(namespace, table)} "
                              f"GROUP BY {columns} HAVING count(*) > 1)").fetchone()
            return int(row[0]) if row else 0

    # -- writing --------------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, sync_id: str) -> DuckDBStreamWriter:
        conn = self._require(self._conn)
        if spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED and not spec.primary_key:
            raise ConfigError(
                f"stream {spec.stream!r}: incremental_deduped needs a primary key to upsert on")
        staged = spec.sync_mode in _STAGED_MODES
        plan_staging = self._names.table(spec.namespace, STAGING_PREFIX + spec.table) if staged else None
        target = self._names.table(spec.namespace, spec.table)
        with self._ddl_lock:
            self._create_or_evolve(spec, target, plan_staging)
            cur = conn.cursor()
        try:
            boundary = self._boundary(cur, spec, target)
        except BaseException:
            cur.close()
            raise
        plan = WritePlan(target=target, target_name=quote_ident(spec.table),
                         staging=plan_staging, boundary=boundary)
        ctx = WriterContext(ddl_lock=self._ddl_lock, seq=self._seq, names=self._names, on_close=self._forget)
        writer = DuckDBStreamWriter(cur, spec, sync_id, plan, ctx)
        with self._writers_lock:
            self._writers.add(writer)
        return writer

    def _create_or_evolve(self, spec: TableSpec, target: str, staging: str | None) -> None:
        """Schema, target table (created, or given the spec's new columns), fresh staging table.

        Tables are created from an empty Arrow table so DuckDB's own Arrow mapping decides the
        column types (decimals, timestamptz, structs, lists, JSON) exactly as it does on insert.
        Columns the table has and the spec lacks stay: old rows keep them, new rows get NULL.
        """
        cur = self._require(self._ddl_cur)
        shape = f"_rooftop_shape_{uuid.uuid4().hex}"
        cur.register(shape, _column_shape(spec.schema).empty_table())
        try:
            cur.execute("BEGIN")
            try:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._names.schema(spec.namespace)}")
                existing = _table_columns(cur, spec.namespace, spec.table)
                if existing is None and spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
                    pass  # the first swap creates it: a crash before then must not leave an empty table
                elif existing is None:
                    cur.execute(f"CREATE TABLE {target} AS SELECT * FROM {shape}")
                else:
                    # DuckDB matches identifiers case-insensitively, so must we.
                    have = {c.lower() for c in existing}
                    missing = [f.name for f in spec.schema if f.name.lower() not in have]
                    widen = [c for c in spec.widen if c.lower() in have]
                    if missing or widen:
                        types = dict(cur.execute(
                            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {shape})"
                        ).fetchall())
                        for column in missing:
                            cur.execute(f"ALTER TABLE {target} ADD COLUMN "
                                        f"{quote_ident(column)} {types[column]}")
                        for column in widen:
                            # schema_changes: propagate asked for a wider type (int → bigint → double
                            # → varchar); DuckDB converts the stored values in place.
                            cur.execute(f"ALTER TABLE {target} ALTER COLUMN "
                                        f"{quote_ident(column)} TYPE {types[column]}")
                if staging is not None:
                    # A leftover from a crashed sync holds nothing worth keeping.
                    cur.execute(f"DROP TABLE IF EXISTS {staging}")
                    cur.execute(f"CREATE TABLE {staging} AS SELECT * FROM {shape}")
                cur.execute("COMMIT")
            except BaseException:
                rollback(cur)
                raise
        finally:
            cur.unregister(shape)

    @staticmethod
    def _boundary(cur: duckdb.DuckDBPyConnection, spec: TableSpec, target: str) -> Boundary | None:
        """The target's max(cursor) for incremental_append's re-read check (None: no check)."""
        if (spec.sync_mode is not SyncMode.INCREMENTAL_APPEND or not spec.primary_key
                or not spec.cursor_field):
            return None
        c = quote_ident(spec.cursor_field)
        # Text + type name keep the value exact (timestamps, decimals) when bound back later.
        row = cur.execute(
            f"SELECT typeof(max({c})), CAST(max({c}) AS VARCHAR) FROM {target}").fetchone()
        if row is None or row[1] is None:
            return None
        return Boundary(duckdb_type=row[0], value=row[1])

    def _forget(self, writer: DuckDBStreamWriter) -> None:
        with self._writers_lock:
            self._writers.discard(writer)

    def _require(self, cur: duckdb.DuckDBPyConnection | None) -> duckdb.DuckDBPyConnection:
        if cur is None:
            raise RuntimeError(
                f"DuckDB destination {self.path} is not open: use it as a context manager")
        return cur


def _column_shape(schema: pa.Schema) -> pa.Schema:
    """The schema to create columns from: Arrow's `null` type (a column no record has filled
    yet) becomes VARCHAR, since a DuckDB column of type NULL could never hold a value later."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                      for f in schema])


def _normal_type(t: pa.DataType) -> pa.DataType:
    """DuckDB's Arrow export in the engine's terms: TIMESTAMPTZ comes out in the session's zone
    (an instant either way: UTC), and lists name their item `l` instead of Arrow's `item`."""
    if pa.types.is_timestamp(t) and t.tz:
        return pa.timestamp(t.unit, tz="UTC")
    if pa.types.is_list(t):
        return pa.list_(_normal_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_normal_type(f.type)) for f in t])
    return t


def _table_columns(cur: duckdb.DuckDBPyConnection, namespace: str, table: str) -> list[str] | None:
    """Column names of a base table of this database, or None when there is no such table."""
    rows = cur.execute(
        """SELECT c.column_name FROM duckdb_columns() AS c JOIN duckdb_tables() AS t
             ON c.table_oid = t.table_oid
           WHERE t.database_name = current_database() AND NOT t.temporary
             AND lower(t.schema_name) = lower(?) AND lower(t.table_name) = lower(?)
           ORDER BY c.column_index""",
        [namespace, table],
    ).fetchall()
    return [r[0] for r in rows] or None
