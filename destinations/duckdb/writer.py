"""The stream writer: one stream of one sync, staged beside the warehouse and merged in at commits.

Rows never go into the warehouse as they arrive: `write` appends each batch to an Arrow IPC file in
the destination's staging directory (`staging.py`), which costs no lock and little CPU.
`commit(state)` and `finish(state)` then take the warehouse's write lock (`warehouse.py`) for one
transaction that creates or evolves the target table, merges the staged batches in the order they
arrived, appends the state row that covers them (and the destination's pending sync-log rows), and
commits; the lock is released at once and the staged files are deleted. A crash before that COMMIT
leaves the warehouse as it was. What the merge does depends on the sync mode:

    full_refresh_overwrite  commits move staged batches (once OVERWRITE_MERGE_ROWS wait) into a
                            build table beside the target (`_rooftop_build_<table>_<id>`); finish
                            moves the rest, drops the target and renames the build table to it in
                            one transaction (readers see the old table or the new one, never half)
    full_refresh_append     batches stay staged until finish, which appends them to the target
    incremental_append      each commit appends the staged batches, minus exact re-reads of the
                            boundary
    incremental_deduped     each commit upserts its batches by primary key, the latest cursor
                            wins (`dedupe.py`; with `record_diffs`, after recording its row-level
                            diffs: `diffs.py`)

Staged batches are read back one at a time and given to DuckDB as Arrow views (zero copy),
inserted `BY NAME`, so column order never matters and DuckDB maps the Arrow types exactly as it
would have at `write`. DuckDB keeps every Arrow object a statement scanned alive until the
transaction ends, so plain inserts scan each staged file as one stream (only the batch being read
is in memory) and a merge's registered batches are at most one commit's rows.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from destinations.duckdb import state as meta
from destinations.duckdb.connection import rollback
from destinations.duckdb.dedupe import DedupedMerge, Statement, keys_match, with_view
from destinations.duckdb.diffs import DiffRecorder
from destinations.duckdb.names import Names
from destinations.duckdb.pending import PendingWrites
from destinations.duckdb.warehouse import Warehouse
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import DIFFS
from protocol.types import SyncMode, TableSpec

log = logging.getLogger(__name__)

OVERWRITE_MERGE_ROWS = 500_000
"""full_refresh_overwrite's commits (which only bound its open transaction) merge once this many
rows wait: each DuckDB commit costs a checkpoint, and few large ones cost less than many small
ones (DuckDB writes an append this large to the file as it goes: peak RSS stays flat)."""

Evolve = Callable[[duckdb.DuckDBPyConnection, TableSpec], None]
"""Creates or evolves the target inside the merge transaction."""


@dataclass(frozen=True)
class Boundary:
    """max(cursor) of the target when the sync started, kept exact as DuckDB type + text."""

    duckdb_type: str
    value: str


@dataclass(frozen=True)
class WritePlan:
    """What `prepare` decided for this writer; all identifiers already quoted."""

    target: str
    stage: Path
    """The prefix of this writer's staged files (`<prefix>-<n>.arrow`)."""
    boundary: Boundary | None


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


@dataclass
class _Segment:
    """One staged Arrow IPC file: batches of one schema, in arrival order."""

    path: Path
    schema: pa.Schema
    sink: ipc.RecordBatchFileWriter | None
    batches: int = 0

    def seal(self) -> None:
        if self.sink is not None:
            sink, self.sink = self.sink, None
            sink.close()

    def read(self) -> Iterator[pa.RecordBatch]:
        """The batches, one at a time (only the one being merged is in memory)."""
        with pa.OSFile(str(self.path)) as source:
            reader = ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)

    def table(self) -> pa.Table:
        """All the batches at once (zero copy of what is read)."""
        with pa.OSFile(str(self.path)) as source:
            return ipc.open_file(source).read_all()

    def stream(self) -> pa.RecordBatchReader:
        """The batches as one stream for one statement. DuckDB keeps every Arrow object a
        statement scanned alive until the transaction ends, so registering the batches one by one
        held a whole merge's rows in memory (a full refresh's: all of them); a stream is consumed
        as it is read, and only the batch being read is in memory."""
        return pa.RecordBatchReader.from_batches(self.schema, self.read())


@dataclass
class _Staged:
    segments: list[_Segment] = field(default_factory=list)
    rows: int = 0

    def append(self, prefix: Path, batch: pa.RecordBatch) -> None:
        last = self.segments[-1] if self.segments else None
        if last is None or last.sink is None or not last.schema.equals(batch.schema):
            # A new file per schema (a batch may differ, e.g. a column typed only later).
            if last is not None:
                last.seal()
            path = prefix.with_name(f"{prefix.name}-{len(self.segments)}.arrow")
            last = _Segment(path, batch.schema, ipc.new_file(str(path), batch.schema))
            self.segments.append(last)
        assert last.sink is not None
        last.sink.write_batch(batch)
        last.batches += 1
        self.rows += batch.num_rows

    def batches(self) -> Iterator[pa.RecordBatch]:
        for segment in self.segments:
            segment.seal()
            yield from segment.read()

    def tables(self) -> Iterator[pa.Table]:
        """One table per staged file (`_Segment.table`), in arrival order."""
        for segment in self.segments:
            segment.seal()
            yield segment.table()

    def streams(self) -> Iterator[pa.RecordBatchReader]:
        """One stream per staged file (`_Segment.stream`), in arrival order."""
        for segment in self.segments:
            segment.seal()
            yield segment.stream()

    @property
    def empty(self) -> bool:
        return not self.segments

    def discard(self) -> None:
        for segment in self.segments:
            with contextlib.suppress(OSError):
                segment.seal()
            segment.path.unlink(missing_ok=True)
        self.segments.clear()
        self.rows = 0


class DuckDBStreamWriter:
    """`protocol.types.StreamWriter` for DuckDB. Used by one thread; see the module docstring."""

    def __init__(self, spec: TableSpec, sync_id: str, plan: WritePlan, ctx: WriterContext) -> None:
        self._spec = spec
        self._sync_id = sync_id
        self._plan = plan
        self._ctx = ctx
        self._view = f"_rooftop_batch_{uuid.uuid4().hex}"
        # Only deduplicated merges record diffs; None keeps every other path free of them.
        self._diffs = (DiffRecorder(spec, sync_id, plan.target, ctx.names.meta(DIFFS.name))
                       if spec.record_diffs and spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED else None)
        self._dedupe = DedupedMerge(spec, plan.target, self._view, self._diffs)
        self._staged = _Staged()
        self._closed = False
        self._evolved = False
        self._build: str | None = None
        """full_refresh_overwrite: the build table, once a commit created it (quoted, qualified)."""

    # -- StreamWriter ---------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        self._check_open()
        if batch.num_rows:
            self._staged.append(self._plan.stage, batch)

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self._check_open()
        mode = self._spec.sync_mode
        if mode is SyncMode.FULL_REFRESH_APPEND and state is None:
            return  # appends publish only at finish; their batches stay staged
        # An overwrite's first commit creates the tables (a bad target fails now, not after the read).
        waits = mode is SyncMode.FULL_REFRESH_OVERWRITE and state is None and self._staged.rows < OVERWRITE_MERGE_ROWS
        if not (waits and self._build is not None):
            self._merge(state, final=False, moves=not waits)

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
            self._staged.discard()  # worthless now; the directory goes when the destination closes
            if self._build is not None:
                # Best effort: a build table left here is dropped by the stream's next overwrite.
                with contextlib.suppress(Exception), self._ctx.warehouse.writing() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {self._build}")
        finally:
            self._close()

    # -- the merge ------------------------------------------------------------------------------

    def _merge(self, state: Mapping[str, Any] | None, *, final: bool, moves: bool = True) -> int:
        """One warehouse transaction: the tables, the staged batches if `moves`, `state`, pending sync rows."""
        mode = self._spec.sync_mode
        publishes = mode is not SyncMode.FULL_REFRESH_APPEND or final
        total = 0
        with self._ctx.warehouse.writing() as cur:
            cur.execute("BEGIN")
            try:
                if publishes and not self._evolved:
                    self._ctx.evolve(cur, self._spec)
                if publishes and moves:
                    self._publish(cur)
                elif publishes and mode is SyncMode.FULL_REFRESH_OVERWRITE:
                    self._build_table(cur)
                if final and mode is SyncMode.FULL_REFRESH_OVERWRITE:
                    self._swap_in_build(cur)
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
            if final:
                row = cur.execute(f"SELECT count(*) FROM {self._plan.target}").fetchone()
                total = int(row[0]) if row else 0
        self._evolved = self._evolved or publishes
        if publishes and moves:
            self._staged.discard()
        return total

    def _publish(self, cur: duckdb.DuckDBPyConnection) -> None:
        target = self._plan.target
        mode = self._spec.sync_mode
        if mode is SyncMode.FULL_REFRESH_OVERWRITE:
            target = self._build_table(cur)
        boundary = self._plan.boundary
        if mode is SyncMode.INCREMENTAL_DEDUPED:
            # All of a commit's rows at once (per staged file), not batch by batch: `dedupe.py`.
            for table in self._staged.tables():
                self._dedupe.merge(cur, table)
        elif (mode is SyncMode.INCREMENTAL_APPEND and boundary is not None
              and self._spec.primary_key and self._spec.cursor_field):
            # Batch by batch: a re-read repeated in a later batch must see the earlier one stored.
            for batch in self._staged.batches():
                self._append_skipping_rereads(cur, batch, boundary)
        else:
            for stream in self._staged.streams():  # one statement per staged file, streamed
                self._with_batch(cur, stream, [(f"INSERT INTO {target} BY NAME SELECT * FROM {self._view}", None)])

    def _build_table(self, cur: duckdb.DuckDBPyConnection) -> str:
        """full_refresh_overwrite's build table, created at its first commit (see the module docstring)."""
        if self._build is None:
            spec, names = self._spec, self._ctx.names
            prefix = f"_rooftop_build_{spec.table}_"
            # Left by a killed or failed sync of this stream (only this connection writes this
            # table, and one sync of a connection runs at a time: `ConnectionLock`).
            stale = cur.execute(
                """SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?
                     AND starts_with(table_name, ?)""", [names.catalog, spec.namespace, prefix]).fetchall()
            for (name,) in stale:
                cur.execute(f"DROP TABLE {names.table(spec.namespace, name)}")
            build = names.table(spec.namespace, f"{prefix}{uuid.uuid4().hex[:12]}")
            # Created from an empty Arrow table so DuckDB's own Arrow mapping decides the column
            # types, as for every other table.
            self._with_batch(cur, column_shape(spec.schema).empty_table(),
                             [(f"CREATE TABLE {build} AS SELECT * FROM {self._view}", None)])
            self._build = build
        return self._build

    def _swap_in_build(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Replace the target with the build table, in the final merge's transaction."""
        assert self._build is not None
        cur.execute(f"DROP TABLE IF EXISTS {self._plan.target}")
        cur.execute(f"ALTER TABLE {self._build} RENAME TO {quote_ident(self._spec.table)}")
        self._build = None

    # -- modes ----------------------------------------------------------------------------------

    def _append_skipping_rereads(self, cur: duckdb.DuckDBPyConnection, batch: pa.RecordBatch,
                                 boundary: Boundary) -> None:
        """Insert the batch except rows already stored with the same key and cursor.

        An incremental read asks for cursor >= saved cursor, so the rows at the boundary come back
        every sync; only those (cursor <= the target's max at prepare) are checked against the
        target. Newer rows and rows without a cursor go in as they are.
        """
        target, c = self._plan.target, quote_ident(self._spec.cursor_field or "")
        self._with_batch(
            cur, batch,
            [(f"""INSERT INTO {target} BY NAME SELECT b.* FROM {self._view} AS b
                  WHERE b.{c} IS NULL OR b.{c} > CAST(? AS {boundary.duckdb_type})
                     OR NOT EXISTS (SELECT 1 FROM {target} AS t
                                    WHERE t.{c} = b.{c} AND {keys_match(self._spec.primary_key, 't', 'b')})""",
              [boundary.value])],
        )

    # -- helpers --------------------------------------------------------------------------------

    def _with_batch(self, cur: duckdb.DuckDBPyConnection, batch: pa.RecordBatch | pa.Table | pa.RecordBatchReader,
                    statements: list[Statement]) -> None:
        """Run `statements` with `batch` visible as the view `self._view` on `cur`."""
        with_view(cur, self._view, batch, statements)

    def _insert_state(self, cur: duckdb.DuckDBPyConnection, state: Mapping[str, Any]) -> None:
        # Under the write lock: above every seq stored by any process, and wall-clock when it can.
        seq = max(time.time_ns(), meta.max_seq(cur, self._ctx.names) + 1)
        meta.insert_state(cur, self._ctx.names, connection=self._spec.connection, stream=self._spec.stream,
                          state=state, sync_id=self._sync_id, seq=seq)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                f"writer for {self._spec.stream!r} is already finished or aborted")

    def _close(self) -> None:
        self._closed = True
        self._ctx.on_close(self)


def column_shape(schema: pa.Schema) -> pa.Schema:
    """The schema to create columns from: Arrow's `null` type (a column no record has filled
    yet) becomes VARCHAR, since a DuckDB column of type NULL could never hold a value later."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                      for f in schema])
