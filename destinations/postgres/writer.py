"""The Postgres stream writer: one stream of one sync, on its own connection and transaction.

Rows reach the server through one streaming `COPY … FROM STDIN`, kept open across batches until
the next commit so the server parses one batch while the next is encoded (binary format when
every column allows it: `binary.py`; CSV from Arrow's writer otherwise: `types.py`). Everything
else (DDL, MERGE, state, transactions) goes through SQLAlchemy on the same connection, so one
transaction covers the rows and the state that covers them. Per sync mode:

    full_refresh_overwrite  COPY into a staging table in `_rooftop`; finish drops the target and
                            moves the staging table into its place in one transaction
    full_refresh_append     COPY into a staging table; finish appends it to the target
    incremental_append      COPY into the target, or (boundary re-reads possible) into a temp
                            table, from which each commit inserts every row except exact re-reads
                            of the boundary
    incremental_deduped     COPY into a temp table; each commit MERGEs it by primary key (latest
                            cursor wins) in the same transaction as the state (with
                            `record_diffs`, after recording its row-level diffs: `diffs.py`)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa
import sqlalchemy as sa

from destinations.postgres import binary
from destinations.postgres import state as meta
from destinations.postgres.diffs import diff_statement
from destinations.postgres.types import csv_bytes, pg_type
from destinations.sql_naming import quote_ident
from protocol.types import SyncMode, TableSpec

log = logging.getLogger(__name__)

ORDER_COLUMN = "_rooftop_batch_order"
"""Arrival order of rows in the temp table, so that among equal cursors the last one read wins."""


@dataclass(frozen=True)
class Boundary:
    """max(cursor) of the target when the sync started, kept exact as text + PostgreSQL type."""

    pg_type: str
    value: str


@dataclass(frozen=True)
class WritePlan:
    """What `prepare` decided for this writer; identifiers already quoted."""

    target: str
    namespace: str
    table_name: str
    staging: str | None
    staging_name: str | None
    temp: str | None
    columns: list[str]
    boundary: Boundary | None
    other_columns: tuple[str, ...] = ()
    """Columns of the table the spec lacks (dropped at the source): a replaced row gets NULL."""
    target_types: dict[str, str] = field(default_factory=dict)
    """PostgreSQL type of each column of the target (staging and temp tables: `pg_type`)."""


class PostgresStreamWriter:
    """`protocol.types.StreamWriter` for Postgres. Used by one thread; see the module docstring."""

    def __init__(self, conn: sa.Connection, spec: TableSpec, sync_id: str, plan: WritePlan,
                 on_close: Callable[[PostgresStreamWriter], None]) -> None:
        self._conn = conn
        self._spec = spec
        self._sync_id = sync_id
        self._plan = plan
        self._on_close = on_close
        self._txn: sa.RootTransaction | None = None
        self._closed = False
        self._column_list = ", ".join(quote_ident(c) for c in plan.columns)
        self._stream: _CopyStream | None = None
        self._unflushed = False
        self._null_keys = False
        own = {f.name: pg_type(f.type) for f in spec.schema}  # staging and temp tables
        self._types = {"own": own, "target": {**own, **plan.target_types}}
        self._binary = {kind: all(binary.encodable(types[c], spec.schema.field(c).type) for c in plan.columns)
                        for kind, types in self._types.items()}

    # -- StreamWriter ---------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        self._check_open()
        if batch.num_rows == 0:
            return
        self._begin()
        if self._plan.temp is not None:
            self._null_keys = self._null_keys or _has_null_key(batch, self._spec.primary_key)
            self._copy(batch, self._plan.temp)
        else:
            self._copy(batch, self._plan.staging or self._plan.target)

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self._check_open()
        self._flush()
        if state is not None:
            self._begin()
            self._upsert_state(state)
        if self._txn is not None:
            txn, self._txn = self._txn, None
            txn.commit()

    def finish(self, state: Mapping[str, Any] | None) -> int:
        self._check_open()
        try:
            self._begin()
            self._flush()
            if self._plan.staging is not None:
                self._publish_staging(self._plan.staging)
            if state is not None:
                self._upsert_state(state)
            txn, self._txn = self._txn, None
            assert txn is not None
            txn.commit()
            count = self._conn.execute(sa.text(f"SELECT count(*) FROM {self._plan.target}")).scalar_one()
            self._conn.rollback()  # end the read-only transaction the count began
        except BaseException:
            self.abort()
            raise
        self._close()
        return int(count)

    def abort(self) -> None:
        if self._closed:
            return
        try:
            self._cancel_copy()
            if self._txn is not None:
                txn, self._txn = self._txn, None
                txn.rollback()
            if self._plan.staging is not None:
                self._drop_staging(self._plan.staging)
        finally:
            self._close()

    # -- modes ----------------------------------------------------------------------------------

    def _copy(self, batch: pa.RecordBatch, table: str) -> None:
        """Send the batch on the open COPY into `table` (opened here: binary when every column's
        type allows it, else CSV)."""
        kind = "target" if table == self._plan.target else "own"
        data, fmt = None, "csv"
        if self._binary[kind]:
            try:
                data, fmt = binary.encode_rows(batch, self._plan.columns, self._types[kind]), "binary"
            except (pa.ArrowInvalid, OverflowError):
                data = None  # a value binary cannot carry exactly (out of range, sub-µs): text it is
        if data is None:
            data = csv_bytes(batch, self._plan.columns)
        if self._stream is not None and self._stream.key != (table, fmt):
            self._close_copy()
        if self._stream is None:
            self._stream = _CopyStream(self._conn, (table, fmt),
                                       f"COPY {table} ({self._column_list}) FROM STDIN (FORMAT {fmt})")
        self._stream.copy.write(data)
        self._unflushed = self._unflushed or table == self._plan.temp

    def _close_copy(self) -> None:
        """End the open COPY (the server has then loaded every row sent)."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()

    def _cancel_copy(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.cancel()

    def _flush(self) -> None:
        """Finish the COPY and apply the temp table's rows (MERGE, or the boundary check)."""
        self._close_copy()
        if not self._unflushed:
            return
        if self._spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED:
            self._merge(self._null_keys)
        elif self._plan.boundary is not None:
            self._append_skipping_rereads(self._plan.boundary)
        self._conn.execute(sa.text(f"TRUNCATE {self._plan.temp}"))
        self._unflushed = self._null_keys = False

    def _merge(self, null_keys: bool) -> None:
        """Upsert the temp table's rows by primary key; the greatest cursor wins.

        The batch is first reduced to one row per key (greatest cursor, ties: last read). A stored
        row is replaced when its cursor is <= the incoming one (or either is NULL: without a cursor
        we cannot tell, and the fresher read wins); a key not stored yet is inserted. Keys compare
        with `=` so the primary-key index is used; a batch holding a NULL key takes the slower
        `IS NOT DISTINCT FROM` join so NULL keys dedupe like any other.
        """
        keys = [quote_ident(k) for k in self._spec.primary_key]
        cursor = self._spec.cursor_field
        order = quote_ident(ORDER_COLUMN)
        ranking = f"{quote_ident(cursor)} DESC NULLS LAST, {order} DESC" if cursor else f"{order} DESC"
        latest = (f"(SELECT DISTINCT ON ({', '.join(keys)}) {self._column_list} FROM {self._plan.temp} "
                  f"ORDER BY {', '.join(keys)}, {ranking})")
        op = "IS NOT DISTINCT FROM" if null_keys else "="
        on = " AND ".join(f"t.{k} {op} b.{k}" for k in keys)
        applies = "TRUE"
        if cursor:
            c = quote_ident(cursor)
            applies = f"(t.{c} <= b.{c} OR t.{c} IS NULL OR b.{c} IS NULL)"
        if self._spec.record_diffs:
            # Before the MERGE, in its transaction: the diff needs the rows the MERGE replaces.
            diff = diff_statement(self._spec, self._sync_id, target=self._plan.target, latest=latest, on=on,
                                  applies=applies, columns=self._plan.columns,
                                  other_columns=self._plan.other_columns, own_types=self._types["own"],
                                  target_types=self._plan.target_types)
            self._conn.execute(diff.sql, diff.params)
        newer = f"AND {applies}" if cursor else ""
        updates = ", ".join([*(f"{quote_ident(c)} = b.{quote_ident(c)}" for c in self._plan.columns),
                             *(f"{quote_ident(c)} = NULL" for c in self._plan.other_columns)])
        values = ", ".join(f"b.{quote_ident(c)}" for c in self._plan.columns)
        self._conn.execute(sa.text(
            f"""MERGE INTO {self._plan.target} AS t USING {latest} AS b ON {on}
                WHEN MATCHED {newer} THEN UPDATE SET {updates}
                WHEN NOT MATCHED THEN INSERT ({self._column_list}) VALUES ({values})"""))

    def _append_skipping_rereads(self, boundary: Boundary) -> None:
        """Insert the temp table's rows except those already stored with the same key and cursor.

        Only rows at or below the target's max cursor at prepare can be re-reads; newer rows and
        rows without a cursor go in as they are (same rule as the DuckDB destination). A re-read
        that arrives twice since the last commit is kept once.
        """
        c = quote_ident(self._spec.cursor_field or "")
        keys = [quote_ident(k) for k in self._spec.primary_key]
        match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM b.{k}" for k in keys)
        order = quote_ident(ORDER_COLUMN)
        self._conn.execute(sa.text(
            f"""INSERT INTO {self._plan.target} ({self._column_list})
                SELECT {', '.join(f'b.{quote_ident(x)}' for x in self._plan.columns)}
                FROM (SELECT *, row_number() OVER (PARTITION BY {', '.join(keys)}, {c} ORDER BY {order})
                      AS _rooftop_seen FROM {self._plan.temp}) AS b
                WHERE b.{c} IS NULL OR b.{c} > CAST(:boundary AS {boundary.pg_type})
                   OR (b._rooftop_seen = 1 AND NOT EXISTS (
                       SELECT 1 FROM {self._plan.target} AS t WHERE t.{c} = b.{c} AND {match}))
                ORDER BY b.{order}"""), {"boundary": boundary.value})

    def _publish_staging(self, staging: str) -> None:
        target = self._plan.target
        if self._spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
            # One transaction: readers see the old table until COMMIT, then the new one; a crash
            # before COMMIT leaves the old table (PostgreSQL DDL is transactional).
            assert self._plan.staging_name is not None
            self._conn.execute(sa.text(f"DROP TABLE IF EXISTS {target}"))
            self._conn.execute(sa.text(f"ALTER TABLE {staging} SET SCHEMA {quote_ident(self._plan.namespace)}"))
            moved = f"{quote_ident(self._plan.namespace)}.{quote_ident(self._plan.staging_name)}"
            self._conn.execute(sa.text(f"ALTER TABLE {moved} RENAME TO {quote_ident(self._plan.table_name)}"))
        else:
            self._conn.execute(sa.text(f"INSERT INTO {target} ({self._column_list}) "
                                       f"SELECT {self._column_list} FROM {staging}"))
            self._conn.execute(sa.text(f"DROP TABLE {staging}"))

    def _drop_staging(self, staging: str) -> None:
        """Remove the staging table after an abort (it may hold committed partial rows).

        Best effort: abort runs while the engine handles the real failure, which must not be
        replaced by a cleanup error; the next `prepare` recreates the table anyway.
        """
        try:
            with self._conn.begin():
                self._conn.execute(sa.text(f"DROP TABLE IF EXISTS {staging}"))
        except sa.exc.SQLAlchemyError:
            log.warning("could not drop staging table %s after abort", staging, exc_info=True)

    # -- helpers --------------------------------------------------------------------------------

    def _upsert_state(self, state: Mapping[str, Any]) -> None:
        meta.upsert_state(self._conn, connection=self._spec.connection, stream=self._spec.stream,
                          state=state, sync_id=self._sync_id)

    def _begin(self) -> None:
        if self._txn is None:
            self._txn = self._conn.begin()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"writer for {self._spec.stream!r} is already finished or aborted")

    def _close(self) -> None:
        self._closed = True
        try:
            self._conn.close()
        finally:
            self._on_close(self)


def _has_null_key(batch: pa.RecordBatch, keys: tuple[str, ...]) -> bool:
    names = batch.schema.names
    return any(k not in names or batch.column(k).null_count > 0 for k in keys)


class _CopyStream:
    """One `COPY … FROM STDIN` left open across batches (psycopg's context managers, held open)."""

    def __init__(self, conn: sa.Connection, key: tuple[str, str], statement: str) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        self.key = key
        self._stack = contextlib.ExitStack()
        cursor = self._stack.enter_context(raw.cursor())
        self.copy = self._stack.enter_context(cursor.copy(statement))
        self._binary = key[1] == "binary"
        if self._binary:
            self.copy.write(binary.HEADER)

    def close(self) -> None:
        if self._binary:
            self.copy.write(binary.TRAILER)
        self._stack.close()

    def cancel(self) -> None:
        """Abandon the COPY: psycopg tells the server it failed, so the transaction can roll back."""
        reason = _CopyAbandoned("the sync stopped before this COPY finished")
        try:
            self._stack.__exit__(type(reason), reason, None)
        except _CopyAbandoned:
            pass  # expected: psycopg re-raises the reason it was given
        except psycopg.Error:
            log.warning("could not cancel an open COPY", exc_info=True)


class _CopyAbandoned(Exception):
    """The reason given to the server for abandoning an open COPY on abort."""
