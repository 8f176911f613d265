"""The stream writer: one stream of one sync, on its own DuckDB cursor and transaction.

Each writer keeps at most one open transaction, begun lazily at its first statement after a
commit, so rows written between checkpoints are invisible to readers and a crash rolls them back
(DuckDB's WAL only replays committed transactions). `commit(state)` commits those rows together
with the state row that covers them. What `write` and `finish` do depends on the sync mode:

    full_refresh_overwrite  rows go to a staging table; finish drops the target and renames the
                            staging table into its place in one transaction (old or new, never half)
    full_refresh_append     rows go to a staging table; finish appends it to the target
    incremental_append      rows go straight to the target, minus exact re-reads of the boundary
    incremental_deduped     upsert by primary key per batch, the latest cursor wins (with
                            `record_diffs`, after recording its row-level diffs: `diffs.py`)

Batches are registered with DuckDB as Arrow views (zero copy) and inserted `BY NAME`, one at a
time, so nothing accumulates in Python and column order never matters.
"""

from __future__ import annotations

import logging
import threading
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
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import DIFFS
from protocol.types import SyncMode, TableSpec

log = logging.getLogger(__name__)

# Arrival order of rows within a batch, so that among equal cursors the last one read wins.
_ORDER_COLUMN = "_rooftop_batch_order"

Statement = tuple[str, Sequence[Any] | None]
"""SQL text and its bound parameters (None: none)."""


@dataclass(frozen=True)
class Boundary:
    """max(cursor) of the target when the sync started, kept exact as DuckDB type + text."""

    duckdb_type: str
    value: str


@dataclass(frozen=True)
class WritePlan:
    """What `prepare` decided for this writer; all identifiers already quoted."""

    target: str
    target_name: str
    """The bare table name (quoted), for `ALTER TABLE ... RENAME TO`."""
    staging: str | None
    boundary: Boundary | None


@dataclass(frozen=True)
class WriterContext:
    """What a writer shares with its destination (passed in to avoid an import cycle)."""

    ddl_lock: threading.Lock
    seq: meta.SeqCounter
    names: Names
    on_close: Callable[[DuckDBStreamWriter], None]


class DuckDBStreamWriter:
    """`protocol.types.StreamWriter` for DuckDB. Used by one thread; see the module docstring."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, spec: TableSpec, sync_id: str,
                 plan: WritePlan, ctx: WriterContext) -> None:
        self._cur = cur
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

    # -- StreamWriter ---------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        self._check_open()
        if batch.num_rows == 0:
            return
        self._begin()
        mode = self._spec.sync_mode
        if mode is SyncMode.INCREMENTAL_DEDUPED:
            self._upsert(batch)
        elif (mode is SyncMode.INCREMENTAL_APPEND and self._plan.boundary is not None
              and self._spec.primary_key and self._spec.cursor_field):
            self._append_skipping_rereads(batch, self._plan.boundary)
        else:
            self._run_with_batch(
                batch, [(f"INSERT INTO {self._plan.staging or self._plan.target} BY NAME "
                         f"SELECT * FROM {self._view}", None)])

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self._check_open()
        if state is not None:
            self._begin()
            self._insert_state(state)
        if self._in_txn:
            self._in_txn = False  # DuckDB ends the transaction even when COMMIT fails
            self._cur.execute("COMMIT")

    def finish(self, state: Mapping[str, Any] | None) -> int:
        self._check_open()
        try:
            if self._plan.staging is not None:
                # Catalog changes of all writers go through the destination's DDL lock.
                with self._ctx.ddl_lock:
                    self._begin()
                    self._publish_staging(self._plan.staging)
                    self._final_commit(state)
            else:
                self._begin()
                self._final_commit(state)
            row = self._cur.execute(f"SELECT count(*) FROM {self._plan.target}").fetchone()
        except BaseException:
            self.abort()
            raise
        self._close()
        return int(row[0]) if row else 0

    def abort(self) -> None:
        if self._closed:
            return
        try:
            if self._in_txn:
                self._in_txn = False
                rollback(self._cur)
            if self._plan.staging is not None:
                self._drop_staging(self._plan.staging)
        finally:
            self._close()

    # -- modes ----------------------------------------------------------------------------------

    def _append_skipping_rereads(self, batch: pa.RecordBatch, boundary: Boundary) -> None:
        """Insert the batch except rows already stored with the same key and cursor.

        An incremental read asks for cursor >= saved cursor, so the rows at the boundary come back
        every sync; only those (cursor <= the target's max at prepare) are checked against the
        target. Newer rows and rows without a cursor go in as they are.
        """
        target, c = self._plan.target, quote_ident(self._spec.cursor_field or "")
        self._run_with_batch(
            batch,
            [(f"""INSERT INTO {target} BY NAME SELECT b.* FROM {self._view} AS b
                  WHERE b.{c} IS NULL OR b.{c} > CAST(? AS {boundary.duckdb_type})
                     OR NOT EXISTS (SELECT 1 FROM {target} AS t
                                    WHERE t.{c} = b.{c} AND {self._keys_match('t', 'b')})""",
              [boundary.value])],
        )

    def _upsert(self, batch: pa.RecordBatch) -> None:
        """Merge a batch by primary key; the greatest cursor wins, also against stored rows.

        1. Dedupe the batch per key, keeping the greatest cursor (ties: the last row read).
        2. Delete stored rows of those keys whose cursor is <= the incoming one (or either is
           NULL: without a cursor we cannot tell, and the fresher read wins).
        3. Insert incoming rows whose key is no longer stored; a key still present holds a newer
           version, which an older re-read must not overwrite.
        """
        target = self._plan.target
        ordered = batch.append_column(_ORDER_COLUMN, pa.array(range(batch.num_rows), pa.int64()))
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
        latest = (f"(SELECT * FROM {self._view} QUALIFY row_number() OVER "
                  f"(PARTITION BY {keys} ORDER BY {ranking}) = 1)")
        statements: list[Statement] = []
        if self._diffs is not None:
            # Before the DELETE, in its transaction: the diff needs the rows the merge replaces,
            # and rolls back with it.
            diff = self._diffs.statement(self._cur, ordered.schema, latest=latest,
                                         keys_match=self._keys_match("t", "b"), applies=applies)
            statements.append((diff.sql, diff.params))
        statements += [
            (f"DELETE FROM {target} AS t USING {latest} AS b "
             f"WHERE {self._keys_match('t', 'b')} {older}", None),
            (f"""INSERT INTO {target} BY NAME SELECT * EXCLUDE ({order}) FROM {latest} AS b
                 WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {self._keys_match('t', 'b')})""", None)]
        self._run_with_batch(ordered, statements)

    def _publish_staging(self, staging: str) -> None:
        target = self._plan.target
        if self._spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
            # Inside the writer's transaction: readers keep seeing the old table until COMMIT,
            # and a crash or failure before it leaves the old table in place.
            self._cur.execute(f"DROP TABLE IF EXISTS {target}")
            self._cur.execute(f"ALTER TABLE {staging} RENAME TO {self._plan.target_name}")
        else:
            self._cur.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {staging}")
            self._cur.execute(f"DROP TABLE {staging}")

    def _drop_staging(self, staging: str) -> None:
        """Remove the staging table after an abort (it may hold committed partial rows).

        Best effort: abort runs while the engine handles the real failure, which must not be
        replaced by a cleanup error; the next `prepare` recreates the table anyway.
        """
        try:
            with self._ctx.ddl_lock:
                self._cur.execute(f"DROP TABLE IF EXISTS {staging}")
        except duckdb.Error:
            log.warning("could not drop staging table %s after abort", staging, exc_info=True)

    # -- helpers --------------------------------------------------------------------------------

    def _final_commit(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            self._insert_state(state)
        meta.prune_state(self._cur, self._ctx.names, connection=self._spec.connection, stream=self._spec.stream)
        self._in_txn = False
        self._cur.execute("COMMIT")

    def _insert_state(self, state: Mapping[str, Any]) -> None:
        meta.insert_state(self._cur, self._ctx.names, connection=self._spec.connection, stream=self._spec.stream,
                          state=state, sync_id=self._sync_id, seq=self._ctx.seq.next())

    def _run_with_batch(self, batch: pa.RecordBatch, statements: list[Statement]) -> None:
        """Run `statements` with `batch` visible as the view `self._view` on this cursor."""
        self._cur.register(self._view, batch)
        for statement, params in statements:
            self._cur.execute(statement, params)
        # Drop our reference at once so the batch's memory can go. Only on success: after a
        # failed statement the transaction is aborted and DuckDB refuses the unregister; closing
        # the cursor in abort() releases it then.
        self._cur.unregister(self._view)

    def _keys_match(self, a: str, b: str) -> str:
        # IS NOT DISTINCT FROM: a NULL key matches a NULL key, as PARTITION BY groups them.
        return " AND ".join(f"{a}.{quote_ident(k)} IS NOT DISTINCT FROM {b}.{quote_ident(k)}"
                            for k in self._spec.primary_key)

    def _begin(self) -> None:
        if not self._in_txn:
            self._cur.execute("BEGIN")
            self._in_txn = True

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
