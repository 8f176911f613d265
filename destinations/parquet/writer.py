"""The Parquet stream writer: one stream of one sync, committing through the table's manifest.

Batches are streamed into staging files (`_staging/`, not part of the table) so memory stays flat.
A commit puts the staged rows in place and saves the manifest that lists them together with the
stream's state (see `layout.py`); what a commit does with the rows depends on the sync mode:

    full_refresh_overwrite  nothing until finish; then the manifest lists only this sync's files
                            and the old files are deleted (readers of the manifest: old or new)
    full_refresh_append     nothing until finish; then this sync's files join the table
    incremental_append      staged files join the table at every commit, minus exact re-reads
                            of the boundary (same key and cursor already stored)
    incremental_deduped     copy-on-write merge: the staged rows, one per key (latest cursor,
                            ties: last read), replace older stored versions; every data file that
                            held a replaced row is rewritten without it

The merges run in an in-memory DuckDB over Arrow: keys compare with IS NOT DISTINCT FROM (NULL
keys dedupe like the other destinations), and only the key and cursor columns of stored files are
read to find the rows to replace. With `record_diffs`, a merge also hands both sides of every
replacement to a `DiffRecorder` (`diffs.py`), whose rows are committed by the same manifest save.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from destinations.parquet.layout import STAGING, Manifest, fsync_file
from destinations.sql_naming import quote_ident
from protocol.types import SyncMode, TableSpec

if TYPE_CHECKING:
    from destinations.parquet.diffs import DiffRecorder

ORDER = "_rooftop_batch_order"
ROW = "_rooftop_row"


@dataclass(frozen=True)
class WriterSettings:
    compression: str
    rows_per_file: int


class ParquetStreamWriter:
    """`protocol.types.StreamWriter` for a Parquet table. Used by one thread."""

    def __init__(self, directory: Path, spec: TableSpec, sync_id: str, manifest: Manifest,
                 boundary: Any, settings: WriterSettings,
                 on_close: Callable[[ParquetStreamWriter], None], diffs: DiffRecorder | None = None) -> None:
        self._dir = directory
        self._staging = directory / STAGING
        self._staging.mkdir(parents=True, exist_ok=True)
        self._spec = spec
        self._sync_id = sync_id
        self._manifest = manifest
        self._boundary = boundary
        self._settings = settings
        self._on_close = on_close
        self._diffs = diffs
        """Set only when the spec records diffs: every other writer runs exactly as without them."""
        mode = spec.sync_mode
        self._ordered = mode is SyncMode.INCREMENTAL_DEDUPED or (
            mode is SyncMode.INCREMENTAL_APPEND and boundary is not None)
        self._schema = manifest.schema
        self._file_schema = self._schema.append(pa.field(ORDER, pa.int64())) if self._ordered else self._schema
        self._token = uuid.uuid4().hex[:8]
        self._pending: list[Path] = []
        self._current: pq.ParquetWriter | None = None
        self._current_rows = 0
        self._seq = 0
        self._order = 0
        self._closed = False

    # -- StreamWriter ---------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        self._check_open()
        if batch.num_rows == 0:
            return
        arrays = conform(batch, self._schema)
        if self._ordered:
            arrays.append(pa.array(range(self._order, self._order + batch.num_rows), pa.int64()))
            self._order += batch.num_rows
        if self._current is None or self._current_rows >= self._settings.rows_per_file:
            self._roll()
        assert self._current is not None
        self._current.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._file_schema))
        self._current_rows += batch.num_rows

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self._check_open()
        self._close_current()
        if self._spec.sync_mode.incremental:
            self._publish(state)
        # Full refreshes keep their files staged until finish: only then may readers see them.

    def finish(self, state: Mapping[str, Any] | None) -> int:
        self._check_open()
        try:
            self._close_current()
            self._publish(state, final=True)
        except BaseException:
            self.abort()
            raise
        self._close()
        return sum(pq.ParquetFile(self._dir / f).metadata.num_rows for f in self._manifest.files)

    def abort(self) -> None:
        if self._closed:
            return
        try:
            if self._current is not None:
                writer, self._current = self._current, None
                writer.close()
            for path in self._pending:
                path.unlink(missing_ok=True)
            self._pending.clear()
        finally:
            self._close()

    # -- commits --------------------------------------------------------------------------------

    def _publish(self, state: Mapping[str, Any] | None, final: bool = False) -> None:
        """Put the staged files in place and save the manifest (the commit point)."""
        staged, self._pending = self._pending, []
        mode = self._spec.sync_mode
        removed: list[str] = []
        if mode is SyncMode.INCREMENTAL_DEDUPED and staged:
            added, removed = self._merge(staged)
        elif self._ordered and staged:
            added = self._append_skipping_rereads(staged)
        else:
            added = [self._place(path) for path in staged]
        if mode is SyncMode.FULL_REFRESH_OVERWRITE and final:
            removed = list(self._manifest.files)
            self._manifest.files = added
        else:
            self._manifest.files = [f for f in self._manifest.files if f not in set(removed)] + added
        if state is not None:
            self._manifest.set_state(self._spec.connection, self._spec.stream, dict(state), self._sync_id)
        if not (added or removed or state is not None or final):
            return
        # Diffs are staged before, and published after, the save that commits them (`bookkeeping`).
        recorder = self._diffs
        token = recorder.stage(self._manifest, self._dir) if recorder is not None else None
        self._manifest.save(self._dir)
        if recorder is not None and token is not None:
            recorder.publish(token)
        for name in removed:
            (self._dir / name).unlink(missing_ok=True)  # no longer part of the table

    def _place(self, staged: Path) -> str:
        name = f"part-{self._sync_id}-{uuid.uuid4().hex[:12]}.parquet"
        os.replace(staged, self._dir / name)
        return name

    def _merge(self, staged: list[Path]) -> tuple[list[str], list[str]]:
        keys = self._spec.primary_key
        cursor = self._spec.cursor_field
        recorder = self._diffs
        matched: dict[str, list[int]] = {}  # file -> the ORDER of the winner replacing each dropped row
        if recorder is not None:
            recorder.start()
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            incoming = pa.concat_tables([pq.read_table(p) for p in staged])
            con.register("incoming", incoming)
            ranking = f"{quote_ident(cursor)} DESC NULLS LAST, {ORDER} DESC" if cursor else f"{ORDER} DESC"
            con.execute(f"""CREATE TEMP TABLE b AS SELECT * FROM incoming QUALIFY row_number() OVER
                            (PARTITION BY {', '.join(quote_ident(k) for k in keys)} ORDER BY {ranking}) = 1""")
            con.unregister("incoming")
            del incoming
            match = " AND ".join(f"e.{quote_ident(k)} IS NOT DISTINCT FROM b.{quote_ident(k)}" for k in keys)
            c = quote_ident(cursor) if cursor else None
            replaced = f"(e.{c} <= b.{c} OR e.{c} IS NULL OR b.{c} IS NULL)" if c else "true"
            rewrites: dict[str, list[int]] = {}
            losers: list[int] = []
            for name in self._manifest.files:
                stored = pq.read_table(self._dir / name, columns=[*keys, *([cursor] if cursor else [])])
                stored = stored.append_column(ROW, pa.array(range(stored.num_rows), pa.int64()))
                con.register("e", stored)
                hits = con.execute(f"SELECT e.{ROW}, b.{ORDER}, {replaced} FROM e JOIN b ON {match}").fetchall()
                con.unregister("e")
                drop = [row for row, _, wins in hits if wins]
                losers.extend(order for _, order, wins in hits if not wins)
                if drop:
                    rewrites[name] = drop
                    if recorder is not None:
                        matched[name] = [order for _, order, wins in hits if wins]
            con.execute(f"DELETE FROM b WHERE {ORDER} IN (SELECT unnest(?::BIGINT[]))", [losers])
            if recorder is not None:
                recorder.incoming(con.sql("SELECT * FROM b").to_arrow_table())
            reader = con.sql(f"SELECT * EXCLUDE ({ORDER}) FROM b ORDER BY {ORDER}").to_arrow_reader(65536)
            added = self._write_files(reader)
        finally:
            con.close()
        for path in staged:
            path.unlink(missing_ok=True)
        for name, rows in rewrites.items():
            table = pq.read_table(self._dir / name)
            if recorder is not None:
                recorder.replaced(table.take(pa.array(rows, pa.int64())), matched[name])
            keep = pc.invert(pc.is_in(pa.array(range(table.num_rows), pa.int64()), pa.array(rows, pa.int64())))
            added.extend(self._write_files(table.filter(keep).to_reader()))
        return added, list(rewrites)

    def _append_skipping_rereads(self, staged: list[Path]) -> list[str]:
        """Rows at or below the boundary already stored with the same key and cursor are dropped."""
        keys = self._spec.primary_key
        cursor = self._spec.cursor_field or ""
        c = quote_ident(cursor)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.register("b", pa.concat_tables([pq.read_table(p) for p in staged]))
            match = " AND ".join(f"e.{quote_ident(k)} IS NOT DISTINCT FROM b.{quote_ident(k)}" for k in keys)
            seen: list[int] = []
            for name in self._manifest.files:
                stored = pq.read_table(self._dir / name, columns=[*keys, cursor])
                con.register("e", stored)
                seen.extend(r for (r,) in con.execute(
                    f"SELECT b.{ORDER} FROM b JOIN e ON e.{c} = b.{c} AND {match} WHERE b.{c} <= ?",
                    [self._boundary]).fetchall())
                con.unregister("e")
            con.execute("CREATE TEMP TABLE seen AS SELECT unnest(?::BIGINT[]) AS o", [seen])
            reader = con.sql(f"SELECT * EXCLUDE ({ORDER}) FROM b WHERE {ORDER} NOT IN (SELECT o FROM seen) "
                             f"ORDER BY {ORDER}").to_arrow_reader(65536)
            added = self._write_files(reader)
        finally:
            con.close()
        for path in staged:
            path.unlink(missing_ok=True)
        return added

    def _write_files(self, batches: Iterator[pa.RecordBatch] | pa.RecordBatchReader) -> list[str]:
        """Write batches (any compatible schema) as table files of at most rows_per_file rows."""
        names: list[str] = []
        writer: pq.ParquetWriter | None = None
        handle = None
        rows = 0
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if writer is None or rows >= self._settings.rows_per_file:
                    if writer is not None and handle is not None:
                        writer.close()
                        fsync_file(handle)
                        handle.close()
                    name = f"part-{self._sync_id}-{uuid.uuid4().hex[:12]}.parquet"
                    handle = open(self._staging / f"{name}.tmp", "wb")  # noqa: SIM115 - closed below
                    writer = pq.ParquetWriter(handle, self._schema, compression=self._settings.compression)
                    names.append(name)
                    rows = 0
                writer.write_batch(pa.RecordBatch.from_arrays(conform(batch, self._schema), schema=self._schema))
                rows += batch.num_rows
        finally:
            if writer is not None and handle is not None:
                writer.close()
                fsync_file(handle)
                handle.close()
        for name in names:
            os.replace(self._staging / f"{name}.tmp", self._dir / name)
        return names

    # -- staging files --------------------------------------------------------------------------

    def _roll(self) -> None:
        self._close_current()
        self._seq += 1
        path = self._staging / f"{self._token}-{self._seq:06d}.parquet"
        self._pending.append(path)
        self._current = pq.ParquetWriter(path, self._file_schema, compression=self._settings.compression)
        self._current_rows = 0

    def _close_current(self) -> None:
        if self._current is not None:
            writer, self._current = self._current, None
            writer.close()
            with open(self._pending[-1], "rb+") as f:
                fsync_file(f)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"writer for {self._spec.stream!r} is already finished or aborted")

    def _close(self) -> None:
        self._closed = True
        self._on_close(self)


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> list[pa.Array]:
    """The columns of `schema` from `batch`: cast to the table's types, nulls where missing.

    Nested values bound for a text column (a column that became text after a schema change)
    are written as JSON, the way the SQL destinations store them.
    """
    out = []
    for f in schema:
        index = batch.schema.get_field_index(f.name)
        if index < 0:
            out.append(pa.nulls(batch.num_rows, f.type))
            continue
        column = batch.column(index)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if column.type == f.type:
            out.append(column)
        elif pa.types.is_string(f.type) and _nested(column.type):
            out.append(pa.array([None if v is None else orjson.dumps(v, default=str).decode()
                                 for v in column.to_pylist()], pa.string()))
        else:
            out.append(pc.cast(column, f.type))
    return out


def _nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t))
