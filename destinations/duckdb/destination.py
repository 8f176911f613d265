"""`DuckDBDestination`: the embedded default warehouse (one `.duckdb` file, no server).

A sync holds the file's write lock only while it commits, so many syncs (and analysts' read-only
sessions) share one file. Rows are staged beside the warehouse as Arrow IPC files (`staging.py`)
and merged in one short transaction per commit (`writer.py`); everything else visits the file briefly through the
destination's hub (`warehouse.py`): reads attach it read-only, catalog changes happen inside the
merge transaction, and sync-log changes (`record_sync`, `mark_interrupted`, `prune_history`) wait
in `PendingWrites` for the next warehouse transaction, so they never take the lock on their own.
`append_bookkeeping` and `check` write at once. The `_rooftop` SQL is `state.py`'s (state, sync
log) and `bookkeeping.py`'s (the generic meta tables of `protocol.bookkeeping`; diffs: `diffs.py`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import duckdb
from pydantic import BaseModel

from destinations.duckdb import bookkeeping, lookup
from destinations.duckdb import schema_store as schemas
from destinations.duckdb import state as meta
from destinations.duckdb.config import DuckDBConfig
from destinations.duckdb.connection import MEMORY, rollback
from destinations.duckdb.names import Names
from destinations.duckdb.pending import PendingWrites
from destinations.duckdb.staging import ConnectionLock
from destinations.duckdb.warehouse import Warehouse, process_lock
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import META_TABLES, SCHEMAS, BookkeepingTable, StorageLimits
from protocol.errors import ConfigError
from protocol.types import SyncMode, SyncRecord, TableSpec

if TYPE_CHECKING:
    # The writer, pyarrow and the schema store are imported when first used: opening the
    # warehouse to read state and history (`rooftop status`) needs none of them (~0.3 CPU s).
    import pyarrow as pa

    from destinations.duckdb.writer import Boundary, DuckDBStreamWriter
    from protocol.schema_store import WarehouseSchemaStore

log = logging.getLogger(__name__)

_SYNC_TABLES = ("syncs", "sync_logs", "diffs")
"""The `_rooftop` tables pending writes change (reads of them apply those first)."""


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
        self._warehouse: Warehouse | None = None
        self._pending = PendingWrites()
        self._pending_lock = threading.Lock()
        self._writers_lock = threading.Lock()
        self._writers: set[DuckDBStreamWriter] = set()
        self._connection_locks: dict[str, ConnectionLock] = {}

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._warehouse is not None:
            raise RuntimeError(f"DuckDB destination {self.path} is already open")
        warehouse = Warehouse(self.path, lock_timeout_seconds=self.config.lock_timeout_seconds,
                              memory_limit=self.config.memory_limit, threads=self.config.threads)
        try:
            if not self._has_rooftop_tables(warehouse):
                with warehouse.writing() as cur:
                    meta.create_rooftop_tables(cur, warehouse.names)
                    bookkeeping.create_tables(cur, warehouse.names)
        except BaseException:
            warehouse.close()
            raise
        self._warehouse = warehouse
        return self

    @staticmethod
    def _has_rooftop_tables(warehouse: Warehouse) -> bool:
        if not warehouse.exists:
            return False
        wanted = {"state", "syncs", *(t.name for t in META_TABLES.values())}
        with warehouse.reading() as cur:
            rows = cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND "
                               "schema_name = '_rooftop'", [warehouse.names.catalog]).fetchall()
        return wanted <= {r[0] for r in rows}

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        warehouse = self._warehouse
        if warehouse is None:
            return
        with self._writers_lock:
            writers = list(self._writers)
        # ExitStack runs every step even if one of them raises, then re-raises.
        with contextlib.ExitStack() as stack:
            stack.callback(self._close, warehouse)
            for lock in self._connection_locks.values():
                stack.callback(lock.release)
            stack.callback(self._flush_pending, quiet=exc is not None)
            for writer in writers:
                stack.callback(writer.abort)

    def _close(self, warehouse: Warehouse) -> None:
        self._warehouse = None
        self._connection_locks.clear()
        warehouse.close()

    def check(self) -> None:
        """Open the file (waiting for the lock like a sync would) and prove it takes a write."""
        if self._warehouse is None:
            with self:
                self._verify_writable()
        else:
            self._verify_writable()

    def _verify_writable(self) -> None:
        with self._require().writing() as cur:
            probe = self._names.meta(f"_check_{uuid.uuid4().hex}")
            cur.execute(f"CREATE TABLE {probe} AS SELECT 1 AS ok")
            cur.execute(f"DROP TABLE {probe}")

    # -- pending sync-log writes ------------------------------------------------------------------

    def _later(self, table: str, op: Callable[[duckdb.DuckDBPyConnection], object]) -> None:
        with self._pending_lock:
            self._pending.add(table, op)

    def _write_now(self, op: Callable[[duckdb.DuckDBPyConnection], object] | None = None) -> None:
        """One warehouse transaction: the pending writes, then `op`."""
        with self._require().writing() as cur:
            cur.execute("BEGIN")
            try:
                flushed = self._pending.apply(cur)
                if op is not None:
                    op(cur)
                cur.execute("COMMIT")
            except BaseException:
                rollback(cur)
                raise
            self._pending.done(flushed)

    def _flush_pending(self, *, quiet: bool = False) -> None:
        if not self._pending:
            return
        try:
            self._write_now()
        except Exception:
            if not quiet:
                raise
            # Already failing: the original error matters more than the sync log's last rows.
            log.warning("could not store the last sync-log rows in %s", self.path, exc_info=True)

    # -- state and sync log ---------------------------------------------------------------------

    def read_state(self, connection: str) -> dict[str, dict[str, Any]]:
        with self._require().reading() as cur:
            return meta.read_state(cur, self._names, connection)

    def record_sync(self, record: SyncRecord) -> None:
        names = self._names
        self._later("syncs", lambda cur: meta.upsert_sync(cur, names, record))

    def recent_syncs(self, connection: str, limit: int = 20) -> list[SyncRecord]:
        self._flush_pending_for("syncs")
        with self._require().reading() as cur:
            return meta.recent_syncs(cur, self._names, connection, limit)

    def mark_interrupted(self, connection: str) -> int:
        """Take the connection's lock (held until exit: no second sync of it meanwhile), then mark
        its `running` rows, left by dead processes, at the next warehouse transaction."""
        lock = self._connection_locks.get(connection)
        if lock is None and self.path != MEMORY:  # a :memory: warehouse is this process's alone
            lock = ConnectionLock(self.path, connection)
            lock.acquire(self.config.lock_timeout_seconds, connection, self.path)
            self._connection_locks[connection] = lock
        self._flush_pending_for("syncs")
        with self._require().reading() as cur:
            found = meta.count_running(cur, self._names, connection)
        if found:
            names = self._names
            self._later("syncs", lambda cur: meta.mark_interrupted(cur, names, connection))
        return found

    # -- the other _rooftop tables (bookkeeping.py) ----------------------------------------------

    def append_bookkeeping(self, table: BookkeepingTable, rows: pa.Table) -> None:
        names = self._names
        self._write_now(lambda cur: bookkeeping.append(cur, names, table, rows))

    def read_bookkeeping(self, table: BookkeepingTable, connection: str,
                         where: Mapping[str, str] | None = None) -> pa.Table:
        self._flush_pending_for(table.name)
        with self._require().reading() as cur:
            return bookkeeping.read(cur, self._names, table, connection, where)

    def prune_history(self, name: str, connection: str, before: datetime) -> int:
        self._flush_pending_for(name)
        with self._require().reading() as cur:
            found = bookkeeping.count_prunable(cur, self._names, name, connection, before)
        if found:
            names = self._names
            self._later(name, lambda cur: bookkeeping.prune(cur, names, name, connection, before))
        return found

    def _flush_pending_for(self, table: str) -> None:
        if table in _SYNC_TABLES and self._pending.touches(table):
            self._write_now()

    def schema_store(self) -> WarehouseSchemaStore:
        """Learnt schemas (protocol.schema_store): read unopened; saved with the next warehouse transaction."""
        from protocol.schema_store import WarehouseSchemaStore

        def write(rows: pa.Table) -> None:
            self._later(SCHEMAS.name, lambda cur: bookkeeping.append(cur, self._names, SCHEMAS, rows))
        return WarehouseSchemaStore(lambda c: schemas.read(self.path, self.config.lock_timeout_seconds, c), write,
                                    where=f"_rooftop.schemas in {self.path}")

    def table_stats(self, namespace: str, table: str) -> int | None:
        with self._require().reading() as cur:
            if _table_columns(cur, self._names, namespace, table) is None:
                return None
            row = cur.execute(f"SELECT count(*) FROM {self._names.table(namespace, table)}").fetchone()
            return int(row[0]) if row else 0

    def describe_table(self, namespace: str, table: str) -> pa.Schema | None:
        with self._require().reading() as cur:
            if _table_columns(cur, self._names, namespace, table) is None:
                return None
            schema = cur.sql(f"SELECT * FROM {self._names.table(namespace, table)} LIMIT 0").to_arrow_table().schema
        import pyarrow as pa

        return pa.schema([f.with_type(_normal_type(f.type)) for f in schema])

    def record_exists(self, namespace: str, table: str, column: str, value: str,
                      json_path: tuple[str, ...] = ()) -> bool:
        # Works unopened (lookup.py reads on its own); never while this process visits the file.
        with process_lock(self.path):
            return lookup.record_exists(self.path, self.config.lock_timeout_seconds, namespace, table, column, value,
                                         json_path)

    def count_duplicate_keys(self, namespace: str, table: str, keys: tuple[str, ...]) -> int:
        if not keys:
            raise ValueError("count_duplicate_keys needs at least one key column")
        columns = ", ".join(quote_ident(k) for k in keys)
        with self._require().reading() as cur:
            if _table_columns(cur, self._names, namespace, table) is None:
                return 0
            row = cur.execute(f"SELECT count(*) FROM (SELECT {columns} FROM {self._names.table(namespace, table)} "
                              f"GROUP BY {columns} HAVING count(*) > 1)").fetchone()
            return int(row[0]) if row else 0

    # -- writing --------------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, sync_id: str) -> DuckDBStreamWriter:
        """Stage the stream beside the warehouse; the table itself is created or evolved in the
        first merge transaction (writer.py), under the write lock, not here."""
        from destinations.duckdb.writer import DuckDBStreamWriter, WritePlan, WriterContext

        warehouse = self._require()
        if spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED and not spec.primary_key:
            raise ConfigError(
                f"stream {spec.stream!r}: incremental_deduped needs a primary key to upsert on")
        target = self._names.table(spec.namespace, spec.table)
        boundary = self._boundary(spec, target)
        if spec.sync_mode is not SyncMode.FULL_REFRESH_OVERWRITE and not self._table_exists(spec):
            # A first load creates its (empty) table at once, as a sync always has: a stream that
            # then fails still leaves the table its schema promised. Later loads touch the table
            # only in their merges.
            self._write_now(lambda c: self._create_or_evolve(c, spec))
        stage = warehouse.staging_dir() / f"{uuid.uuid4().hex}"
        ctx = WriterContext(warehouse=warehouse, pending=self._pending, evolve=self._create_or_evolve,
                            on_close=self._forget)
        writer = DuckDBStreamWriter(spec, sync_id, WritePlan(target=target, stage=stage, boundary=boundary), ctx)
        with self._writers_lock:
            self._writers.add(writer)
        return writer

    def _create_or_evolve(self, cur: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
        """Schema and target table (created, or given the spec's new columns), inside a merge.

        Tables are created from an empty Arrow table so DuckDB's own Arrow mapping decides the
        column types (decimals, timestamptz, structs, lists, JSON) exactly as it does on insert.
        Columns the table has and the spec lacks stay: old rows keep them, new rows get NULL.
        """
        target = self._names.table(spec.namespace, spec.table)
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._names.schema(spec.namespace)}")
        if spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
            return  # the swap creates the table whole
        existing = _table_columns(cur, self._names, spec.namespace, spec.table)
        have = {c.lower() for c in existing or ()}  # DuckDB matches identifiers case-insensitively
        missing = [f.name for f in spec.schema if f.name.lower() not in have]
        widen = [c for c in spec.widen if c.lower() in have]
        if existing is not None and not missing and not widen:
            return
        from destinations.duckdb.writer import column_shape

        shape = f"_rooftop_shape_{uuid.uuid4().hex}"
        cur.register(shape, column_shape(spec.schema).empty_table())
        if existing is None:
            cur.execute(f"CREATE TABLE {target} AS SELECT * FROM {shape}")
        else:
            types = dict(cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {shape})"
                                     ).fetchall())
            for column in missing:
                cur.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(column)} {types[column]}")
            for column in widen:
                # schema_changes: propagate asked for a wider type (int → bigint → double → varchar);
                # DuckDB converts the stored values in place.
                cur.execute(f"ALTER TABLE {target} ALTER COLUMN {quote_ident(column)} TYPE {types[column]}")
        cur.unregister(shape)

    def _table_exists(self, spec: TableSpec) -> bool:
        with self._require().reading() as cur:
            return _table_columns(cur, self._names, spec.namespace, spec.table) is not None

    def _boundary(self, spec: TableSpec, target: str) -> Boundary | None:
        """The target's max(cursor) for incremental_append's re-read check (None: no check)."""
        if (spec.sync_mode is not SyncMode.INCREMENTAL_APPEND or not spec.primary_key
                or not spec.cursor_field):
            return None
        with self._require().reading() as cur:
            columns = _table_columns(cur, self._names, spec.namespace, spec.table)
            if columns is None or spec.cursor_field.lower() not in {c.lower() for c in columns}:
                return None
            c = quote_ident(spec.cursor_field)
            # Text + type name keep the value exact (timestamps, decimals) when bound back later.
            row = cur.execute(
                f"SELECT typeof(max({c})), CAST(max({c}) AS VARCHAR) FROM {target}").fetchone()
        if row is None or row[1] is None:
            return None
        from destinations.duckdb.writer import Boundary

        return Boundary(duckdb_type=row[0], value=row[1])

    def _forget(self, writer: DuckDBStreamWriter) -> None:
        with self._writers_lock:
            self._writers.discard(writer)

    @property
    def _names(self) -> Names:
        return self._require().names

    def _require(self) -> Warehouse:
        if self._warehouse is None:
            raise RuntimeError(
                f"DuckDB destination {self.path} is not open: use it as a context manager")
        return self._warehouse


def _normal_type(t: pa.DataType) -> pa.DataType:
    """DuckDB's Arrow export in the engine's terms: TIMESTAMPTZ comes out in the session's zone
    (an instant either way: UTC), and lists name their item `l` instead of Arrow's `item`."""
    import pyarrow as pa

    if pa.types.is_timestamp(t) and t.tz:
        return pa.timestamp(t.unit, tz="UTC")
    if pa.types.is_list(t):
        return pa.list_(_normal_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_normal_type(f.type)) for f in t])
    return t


def _table_columns(cur: duckdb.DuckDBPyConnection, names: Names, namespace: str,
                   table: str) -> list[str] | None:
    """Column names of a base table of the warehouse, or None when there is no such table."""
    rows = cur.execute(
        """SELECT c.column_name FROM duckdb_columns() AS c JOIN duckdb_tables() AS t
             ON c.table_oid = t.table_oid
           WHERE t.database_name = ? AND NOT t.temporary
             AND lower(t.schema_name) = lower(?) AND lower(t.table_name) = lower(?)
           ORDER BY c.column_index""",
        [names.catalog, namespace, table],
    ).fetchall()
    return [r[0] for r in rows] or None
