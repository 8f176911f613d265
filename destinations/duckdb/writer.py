"""The stream writer: one stream of one sync, staged beside the warehouse and merged in at commits.

Rows never go into the warehouse as they arrive: `write` appends each batch to this writer's table
in the staging database (`warehouse.py`, `staging.py`), numbered, with each row's place in its batch.
`commit(state)` and `finish(state)` then take the warehouse's write lock for one transaction that
creates or evolves the target table, merges the staged rows, appends the state row that covers them
(and the destination's pending sync-log rows), and commits; the lock is released at once and the
staged rows are dropped. A crash before that COMMIT leaves the warehouse as it was. What the merge
does depends on the sync mode:

    full_refresh_overwrite  rows stay staged until finish, which drops the target and creates it
                            from the staged rows in one transaction (old or new, never half)
    full_refresh_append     rows stay staged until finish, which appends them to the target
    incremental_append      each commit appends the staged rows, minus exact re-reads of the boundary
    incremental_deduped     each commit upserts batch by batch, in arrival order, by primary key: the
                            latest cursor wins (with `record_diffs`, after recording its row-level
                            diffs: `diffs.py`)

Batches are registered with DuckDB as Arrow views (zero copy) and inserted `BY NAME`, one at a
time, so nothing accumulates in Python and column order never matters.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from destinations.duckdb import state as meta
from destinations.duckdb.connection import rollback
from destinations.duckdb.diffs import DiffRecorder
from destinations.duckdb.names import Names
from destinations.duckdb.warehouse import Warehouse
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import DIFFS
from protocol.types import SyncMode, TableSpec

log = logging.getLogger(__name__)

# Per staged row: which batch it came in, and its place in that batch, so that a merge replays
# the batches in order and, among equal cursors, the last row read wins.
_BATCH_COLUMN = "_rooftop_stage_batch"
_ORDER_COLUMN = "_rooftop_batch_order"
_STAGE_COLUMNS = f"{quote_ident(_BATCH_COLUMN)}, {quote_ident(_ORDER_COLUMN)}"

Statement = tuple[str, Sequence[Any] | None]
"""SQL text and its bound parameters (None: none)."""

Evolve = Callable[[duckdb.DuckDBPyConnection, TableSpec, str], None]
"""Creates or evolves the target inside the merge transaction, given the staged table's name."""


@dataclass(frozen=True)
class Boundary:
    """max(cursor) of the target when the sync started, kept exact as DuckDB type + text."""

    duckdb_type: str
    value: str


@dataclass(frozen=True)
class WritePlan:
    """What `prepare` decided for this writer; all identifiers already quoted."""

    target: str
    stage: str
    """This writer's table in the staging database."""
    boundary: Boundary | None


class PendingWrites:
    """Sync-log changes waiting for the next warehouse transaction (`DuckDBDestination`)."""

    def __init__(self) -> None:
        self._ops: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], object]]] = []

    def add(self, table: str, op: Callable[[duckdb.DuckDBPyConnection], object]) -> None:
        self._ops.append((table, op))

    def touches(self, table: str) -> bool:
        return any(t == table for t, _ in self._ops)

    def __bool__(self) -> bool:
        return bool(self._ops)

    def apply(self, cur: duckdb.DuckDBPyConnection) -> int:
        """Run them in `cur`'s open transaction; `done(n)` once that committed. Callers hold the
        warehouse's visit lock, so no two applies overlap."""
        ops = list(self._ops)
        for _, op in ops:
            op(cur)
        return len(ops)

    def done(self, n: int) -> None:
        del self._ops[:n]


@dataclass(frozen=True)
class WriterContext:
    """What a writer shares with its destination (passed in to avoid an import cycle)."""

    warehouse: Warehouse
    pending: PendingWrites
    evolve: Evolve
    on_close: Callable[[DuckDBStreamWriter], None]

    @property
    def names(self) -> Names:
        return self.warehouse.names


class DuckDBStreamWriter:
    """`protocol.types.StreamWriter` for DuckDB. Used by one thread; see the module docstring."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, spec: TableSpec, sync_id: str,
                 plan: WritePlan, ctx: WriterContext) -> None:
        self._cur = cur  # a hub cursor: staging inserts only
        self._spec = spec
        self._sync_id = sync_id
        self._plan = plan
        self._ctx = ctx
        self._view = f"_rooftop_batch_{uuid.uuid4().hex}"
        # Only deduplicated merges record diffs; None keeps every other path free of them.
        self._diffs = (DiffRecorder(spec, sync_id, plan.target, ctx.names.meta(DIFFS.name))
                       if spec.record_diffs and spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED else None)
        self._in_txn = False
        self._closed = False
        self._batches = 0  # batches staged since the last merge
        self._evolved = False

    # -- StreamWriter ---------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        self._check_open()
        if batch.num_rows == 0:
            return
        if not self._in_txn:
            self._cur.execute("BEGIN")
            self._in_txn = True
        ordered = batch.append_column(_ORDER_COLUMN, pa.array(range(batch.num_rows), pa.int64()))
        self._cur.register(self._view, ordered)
        self._cur.execute(f"INSERT INTO {self._plan.stage} BY NAME "
                          f"SELECT *, {self._batches} AS {quote_ident(_BATCH_COLUMN)} FROM {self._view}")
        # Drop our reference at once so the batch's memory can go. Only on success: after a
        # failed statement the transaction is aborted and DuckDB refuses the unregister; closing
        # the cursor in abort() releases it then.
        self._cur.unregister(self._view)
        self._batches += 1

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self._check_open()
        if self._spec.sync_mode in _FULL_REFRESH:
            # Full refreshes publish only at finish; committing the staging database bounds its
            # open transaction, and a state (none is sent today) still lands with nothing else.
            self._end_stage_transaction()
            if state is not None:
                self._merge(state, final=False)
            return
        self._merge(state, final=False)

    def finish(self, state: Mapping[str, Any] | None) -> int:
        self._check_open()
        try:
            total = self._merge(state, final=True)
        except BaseException:
            self.abort()
            raise
        self._close()
        return total

    def abort(self) -> None:
        if self._closed:
            return
        try:
            if self._in_txn:
                self._in_txn = False
                rollback(self._cur)
            # Staged rows are worthless now; the staging file goes when the destination closes.
            self._cur.execute(f"DROP TABLE IF EXISTS {self._plan.stage}")
        except duckdb.Error:
            log.warning("could not drop staged rows of %s after abort", self._spec.stream, exc_info=True)
        finally:
            self._close()

    # -- the merge ------------------------------------------------------------------------------

    def _merge(self, state: Mapping[str, Any] | None, *, final: bool) -> int:
        """One warehouse transaction: the table, the staged rows, `state`, pending sync rows."""
        self._end_stage_transaction()
        publishes = self._spec.sync_mode not in _FULL_REFRESH or final
        total = 0
        with self._ctx.warehouse.writing() as cur:
            cur.execute("BEGIN")
            try:
                if publishes and not self._evolved:
                    self._ctx.evolve(cur, self._spec, self._plan.stage)
                if publishes and self._batches:
                    self._publish(cur)
                elif publishes and final and self._spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
                    self._publish(cur)  # an empty snapshot still replaces the table
                if state is not None:
                    self._insert_state(cur, state)
                if final:
                    meta.prune_state(cur, self._ctx.names, connection=self._spec.connection,
                                     stream=self._spec.stream)
                flushed = self._ctx.pending.apply(cur)
                cur.execute("COMMIT")
            except BaseException:
                rollback(cur)
                raise
            self._ctx.pending.done(flushed)
            if publishes:
                self._evolved = True
            if final:
                row = cur.execute(f"SELECT count(*) FROM {self._plan.target}").fetchone()
                total = int(row[0]) if row else 0
        if publishes and self._batches:
            self._cur.execute(f"DELETE FROM {self._plan.stage}")
            self._batches = 0
        return total

    def _publish(self, cur: duckdb.DuckDBPyConnection) -> None:
        stage, target = self._plan.stage, self._plan.target
        rows = f"SELECT * EXCLUDE ({_STAGE_COLUMNS}) FROM {stage}"
        mode = self._spec.sync_mode
        if mode is SyncMode.FULL_REFRESH_OVERWRITE:
            # Inside the transaction: readers keep seeing the old table until COMMIT, and a
            # failure before it leaves the old table in place.
            cur.execute(f"DROP TABLE IF EXISTS {target}")
            cur.execute(f"CREATE TABLE {target} AS {rows} ORDER BY {_STAGE_COLUMNS}")
        elif mode is SyncMode.INCREMENTAL_DEDUPED:
            for batch in range(self._batches):
                self._upsert(cur, batch)
        elif mode is SyncMode.INCREMENTAL_APPEND and self._plan.boundary is not None \
                and self._spec.primary_key and self._spec.cursor_field:
            for batch in range(self._batches):
                self._append_skipping_rereads(cur, batch, self._plan.boundary)
        else:
            cur.execute(f"INSERT INTO {target} BY NAME {rows} ORDER BY {_STAGE_COLUMNS}")

    def _batch(self, batch: int, *, keep_order: bool = False) -> str:
        """One staged batch as a relation (its rows in arrival order)."""
        drop = quote_ident(_BATCH_COLUMN) if keep_order else _STAGE_COLUMNS
        return (f"(SELECT * EXCLUDE ({drop}) FROM {self._plan.stage} "
                f"WHERE {quote_ident(_BATCH_COLUMN)} = {int(batch)} ORDER BY {quote_ident(_ORDER_COLUMN)})")

    # -- modes ----------------------------------------------------------------------------------

    def _append_skipping_rereads(self, cur: duckdb.DuckDBPyConnection, batch: int, boundary: Boundary) -> None:
        """Insert the batch except rows already stored with the same key and cursor.

        An incremental read asks for cursor >= saved cursor, so the rows at the boundary come back
        every sync; only those (cursor <= the target's max at prepare) are checked against the
        target. Newer rows and rows without a cursor go in as they are.
        """
        target, c = self._plan.target, quote_ident(self._spec.cursor_field or "")
        cur.execute(
            f"""INSERT INTO {target} BY NAME SELECT b.* FROM {self._batch(batch)} AS b
                WHERE b.{c} IS NULL OR b.{c} > CAST(? AS {boundary.duckdb_type})
                   OR NOT EXISTS (SELECT 1 FROM {target} AS t
                                  WHERE t.{c} = b.{c} AND {self._keys_match('t', 'b')})""",
            [boundary.value])

    def _upsert(self, cur: duckdb.DuckDBPyConnection, batch: int) -> None:
        """Merge one staged batch by primary key; the greatest cursor wins, also against stored rows.

        1. Dedupe the batch per key, keeping the greatest cursor (ties: the last row read).
        2. Delete stored rows of those keys whose cursor is <= the incoming one (or either is
           NULL: without a cursor we cannot tell, and the fresher read wins).
        3. Insert incoming rows whose key is no longer stored; a key still present holds a newer
           version, which an older re-read must not overwrite.
        """
        target = self._plan.target
        order = quote_ident(_ORDER_COLUMN)
        keys = ", ".join(quote_ident(k) for k in self._spec.primary_key)
        cursor_field = self._spec.cursor_field
        if cursor_field:
            c = quote_ident(cursor_field)
            ranking = f"{c} DESC NULLS LAST, {order} DESC"
            applies = f"(t.{c} <= b.{c} OR t.{c} IS NULL OR b.{c} IS NULL)"
            older = f"AND {applies}"
        else:
            ranking, applies, older = f"{order} DESC", "TRUE", ""
        latest = (f"(SELECT * FROM {self._batch(batch, keep_order=True)} QUALIFY row_number() OVER "
                  f"(PARTITION BY {keys} ORDER BY {ranking}) = 1)")
        statements: list[Statement] = []
        if self._diffs is not None:
            # Before the DELETE, in its transaction: the diff needs the rows the merge replaces,
            # and rolls back with it.
            schema = column_shape(self._spec.schema).append(pa.field(_ORDER_COLUMN, pa.int64()))
            diff = self._diffs.statement(cur, schema, latest=latest,
                                         keys_match=self._keys_match("t", "b"), applies=applies)
            statements.append((diff.sql, diff.params))
        statements += [
            (f"DELETE FROM {target} AS t USING {latest} AS b "
             f"WHERE {self._keys_match('t', 'b')} {older}", None),
            (f"""INSERT INTO {target} BY NAME SELECT * EXCLUDE ({order}) FROM {latest} AS b
                 WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {self._keys_match('t', 'b')})""", None)]
        for statement, params in statements:
            cur.execute(statement, params)

    # -- helpers --------------------------------------------------------------------------------

    def _end_stage_transaction(self) -> None:
        # A transaction writes one attached database: the staged rows are committed (to the
        # staging file only) before the merge transaction writes the warehouse.
        if self._in_txn:
            self._in_txn = False  # DuckDB ends the transaction even when COMMIT fails
            self._cur.execute("COMMIT")

    def _insert_state(self, cur: duckdb.DuckDBPyConnection, state: Mapping[str, Any]) -> None:
        # Under the write lock: above every seq stored by any process, and wall-clock when it can.
        seq = max(time.time_ns(), meta.max_seq(cur, self._ctx.names) + 1)
        meta.insert_state(cur, self._ctx.names, connection=self._spec.connection, stream=self._spec.stream,
                          state=state, sync_id=self._sync_id, seq=seq)

    def _keys_match(self, a: str, b: str) -> str:
        # IS NOT DISTINCT FROM: a NULL key matches a NULL key, as PARTITION BY groups them.
        return " AND ".join(f"{a}.{quote_ident(k)} IS NOT DISTINCT FROM {b}.{quote_ident(k)}"
                            for k in self._spec.primary_key)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                f"writer for {self._spec.stream!r} is already finished or aborted")

    def _close(self) -> None:
        self._closed = True
        try:
            self._cur.close()
        finally:
            self._ctx.on_close(self)


_FULL_REFRESH = (SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND)


def column_shape(schema: pa.Schema) -> pa.Schema:
    """The schema to create columns from: Arrow's `null` type (a column no record has filled
    yet) becomes VARCHAR, since a DuckDB column of type NULL could never hold a value later."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                      for f in schema])


def stage_shape(schema: pa.Schema) -> pa.Schema:
    """A staged table's columns: the target's, then the batch number and the row's place in it."""
    return column_shape(schema).append(pa.field(_BATCH_COLUMN, pa.int64())).append(
        pa.field(_ORDER_COLUMN, pa.int64()))


def stage_columns(cur: duckdb.DuckDBPyConnection, stage: str) -> dict[str, str]:
    """The staged table's own columns (the target's shape) and their DuckDB types."""
    rows = cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * EXCLUDE "
                       f"({_STAGE_COLUMNS}) FROM {stage})").fetchall()
    return {str(name): str(kind) for name, kind in rows}


def target_from_stage(stage: str) -> str:
    """`SELECT` of no rows with the target's columns, to `CREATE TABLE ... AS` from."""
    return f"SELECT * EXCLUDE ({_STAGE_COLUMNS}) FROM {stage} LIMIT 0"
