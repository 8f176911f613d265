"""`ParquetDestination`: a directory of Parquet files, for lakes and for tools that read Parquet.

One folder per namespace, one per table inside (see `layout.py` for the layout and the commit
protocol, `writer.py` for the sync modes). State is kept in each table's manifest, next to the data
and committed by the same rename that makes the data visible; the sync log is a folder of small
JSON files, the other `_rooftop` tables folders of Parquet files (`bookkeeping.py`); the diffs of a
deduplicated merge are committed by that merge's manifest save (`diffs.py`). Read a table through
its manifest (`read_table` below, or the file list in `_rooftop_manifest.json`): a plain
`*.parquet` glob can also see the leftovers of a crashed commit until the next sync cleans them up.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from destinations.parquet import lookup
from destinations.parquet.bookkeeping import BookkeepingStore, DiffJournal
from destinations.parquet.config import ParquetConfig
from destinations.parquet.diffs import DiffRecorder
from destinations.parquet.layout import ConnectionLock, Manifest, SyncLog, collect_garbage, manifests, table_dir
from destinations.parquet.writer import ORDER, ParquetStreamWriter, WriterSettings, conform
from protocol.bookkeeping import META_TABLES, PRUNABLE, SCHEMAS, BookkeepingTable, StorageLimits
from protocol.errors import ConfigError
from protocol.schema_store import WarehouseSchemaStore
from protocol.types import META_SCHEMA, SyncMode, SyncRecord, TableSpec


class ParquetDestination:
    """A directory of Parquet files: a folder per namespace, one per table, atomic commits."""

    name: ClassVar[str] = "parquet"
    config_model: ClassVar[type[BaseModel]] = ParquetConfig
    # Values outside these are nulled and recorded by the engine (protocol.bookkeeping).
    storage_limits: ClassVar[StorageLimits] = StorageLimits()

    @staticmethod
    def identifier_problem(kind: str, name: str) -> str | None:
        """A namespace or table is a directory: its (escaped) name must fit a 255-byte file name."""
        from destinations.parquet.layout import dir_name
        size = len(dir_name(name).encode()) if kind != "column" and name else 0
        return None if size <= 255 else f"is {size} bytes as a directory name, over the 255-byte file-name limit"

    def __init__(self, config: ParquetConfig, *, root: Path) -> None:
        self.config = config
        self.default_namespace = "main"
        self.commit_every_rows = config.commit_every_rows
        self.path = (root / config.path).resolve()
        self._settings = WriterSettings(
            compression="none" if config.compression == "none" else config.compression,
            rows_per_file=config.rows_per_file)
        self._log: SyncLog | None = None
        self._bookkeeping: BookkeepingStore | None = None
        self._log_lock = threading.Lock()
        self._locks: dict[str, ConnectionLock] = {}
        self._writers: set[ParquetStreamWriter] = set()
        self._writers_lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._log is not None:
            raise RuntimeError(f"Parquet destination {self.path} is already open")
        (self.path / META_SCHEMA).mkdir(parents=True, exist_ok=True)
        self._log = SyncLog(self.path)
        self._bookkeeping = BookkeepingStore(self.path, self._settings.compression)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._writers_lock:
            writers = list(self._writers)
        try:
            for writer in writers:
                writer.abort()
        finally:
            for lock in self._locks.values():
                lock.release()
            self._locks.clear()
            self._log = None
            self._bookkeeping = None

    def check(self) -> None:
        """Prove the directory takes a file (created if missing)."""
        (self.path / META_SCHEMA).mkdir(parents=True, exist_ok=True)
        probe = self.path / META_SCHEMA / ".check"
        probe.write_bytes(b"ok")
        probe.unlink()

    # -- state and sync log ---------------------------------------------------------------------

    def read_state(self, connection: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for _, manifest in manifests(self.path):
            for stream, entry in manifest.streams.get(connection, {}).items():
                found[stream] = entry["state"]
        return found

    def record_sync(self, record: SyncRecord) -> None:
        with self._log_lock:
            self._require_log().write(record)

    def recent_syncs(self, connection: str, limit: int = 20) -> list[SyncRecord]:
        with self._log_lock:
            return self._require_log().read(connection)[:limit]

    def mark_interrupted(self, connection: str) -> int:
        if connection not in self._locks:
            lock = ConnectionLock(self.path, connection)
            lock.acquire(self.config.lock_timeout_seconds, connection)
            self._locks[connection] = lock
        count = 0
        with self._log_lock:
            log = self._require_log()
            log.prune(connection)
            for record in log.read(connection):
                if record.status == "running":
                    log.write(replace(record, status="interrupted", finished_at=datetime.now(UTC)))
                    count += 1
        return count

    # -- the other _rooftop tables ------------------------------------------------------------------

    def append_bookkeeping(self, table: BookkeepingTable, rows: pa.Table) -> None:
        self._require_bookkeeping().append(table, rows)

    def read_bookkeeping(self, table: BookkeepingTable, connection: str,
                         where: Mapping[str, str] | None = None) -> pa.Table:
        return self._require_bookkeeping().read(table, connection, where)

    def prune_history(self, name: str, connection: str, before: datetime) -> int:
        if name not in PRUNABLE:
            raise ValueError(f"cannot prune _rooftop.{name}: only {', '.join(PRUNABLE)} are pruned")
        if name == "syncs":  # the sync history: JSON files, pruned on started_at (SYNCS_TIME_COLUMN)
            with self._log_lock:
                return self._require_log().prune_before(connection, before)
        return self._require_bookkeeping().prune(META_TABLES[name], connection, before)

    def record_exists(self, namespace: str, table: str, column: str, value: str,
                      json_path: tuple[str, ...] = ()) -> bool:
        return lookup.record_exists(self.path, namespace, table, column, value, json_path)

    def schema_store(self) -> WarehouseSchemaStore:
        """Learnt schemas (protocol.schema_store): files read unopened; saved by `append_bookkeeping`."""
        files = BookkeepingStore(self.path, self._settings.compression)  # reads create nothing
        return WarehouseSchemaStore(lambda c: files.read(SCHEMAS, c),
                                    lambda rows: self.append_bookkeeping(SCHEMAS, rows),
                                    where=f"_rooftop/schemas in {self.path}")

    def table_stats(self, namespace: str, table: str) -> int | None:
        directory = table_dir(self.path, namespace, table)
        manifest = Manifest.load(directory)
        if manifest is None:
            return None
        return sum(int(pq.ParquetFile(directory / f).metadata.num_rows) for f in manifest.files)

    def count_duplicate_keys(self, namespace: str, table: str, keys: tuple[str, ...]) -> int:
        if not keys:
            raise ValueError("count_duplicate_keys needs at least one key column")
        directory = table_dir(self.path, namespace, table)
        manifest = Manifest.load(directory)
        if manifest is None or not manifest.files:
            return 0
        # Only the key columns are read; Arrow's group-by groups NULL keys like SQL's GROUP BY.
        key_columns = pa.concat_tables([pq.read_table(directory / f, columns=list(keys)) for f in manifest.files])
        counts = key_columns.group_by(list(keys), use_threads=False).aggregate([([], "count_all")])
        return int(pc.sum(pc.greater(counts.column("count_all"), 1)).as_py() or 0)

    def describe_table(self, namespace: str, table: str) -> pa.Schema | None:
        manifest = Manifest.load(table_dir(self.path, namespace, table))
        return manifest.schema if manifest is not None else None

    # -- writing --------------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, sync_id: str) -> ParquetStreamWriter:
        self._require_log()
        if spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED and not spec.primary_key:
            raise ConfigError(
                f"stream {spec.stream!r}: incremental_deduped needs a primary key to upsert on")
        directory = table_dir(self.path, spec.namespace, spec.table)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = Manifest.load(directory)
        collect_garbage(directory, manifest)
        journal = DiffJournal(self._require_bookkeeping())
        journal.resolve(spec.connection, spec.stream)  # what a crashed writer of this stream left
        if spec.sync_mode is SyncMode.FULL_REFRESH_OVERWRITE:
            # The new files replace the table: they take the spec's columns; the old manifest (and
            # state) stays current until finish swaps it.
            base = Manifest(schema=_null_free(spec.schema), files=list(manifest.files) if manifest else [],
                            streams=dict(manifest.streams) if manifest else {},
                            diff_commits=dict(manifest.diff_commits) if manifest else {})
        elif manifest is None:
            base = Manifest(schema=_null_free(spec.schema))
        else:
            base = self._evolve(directory, manifest, spec)
        recorder = (DiffRecorder(spec, sync_id, base.schema, ORDER, journal)
                    if spec.record_diffs and spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED else None)
        writer = ParquetStreamWriter(directory, spec, sync_id, base, self._boundary(directory, base, spec),
                                     self._settings, self._forget, recorder)
        with self._writers_lock:
            self._writers.add(writer)
        return writer

    def _evolve(self, directory: Path, manifest: Manifest, spec: TableSpec) -> Manifest:
        """Add the spec's new columns and apply its widened types; columns the spec lacks stay.

        Every file of a table has the table's schema, so a change rewrites the existing files
        (schema changes are rare; readers then never need to reconcile file schemas) and commits
        them with a new manifest, state unchanged.
        """
        widen = set(spec.widen)
        fields = {f.name: f for f in manifest.schema}
        changed = False
        for f in _null_free(spec.schema):
            if f.name not in fields:
                fields[f.name] = f
                changed = True
            elif f.name in widen and fields[f.name].type != f.type:
                fields[f.name] = fields[f.name].with_type(f.type)
                changed = True
        if not changed:
            return manifest
        schema = pa.schema(list(fields.values()))
        rewritten = []
        for name in manifest.files:
            table = pq.read_table(directory / name)
            out = pa.Table.from_arrays(conform(table, schema), schema=schema)
            new_name = f"part-evolved-{uuid.uuid4().hex[:12]}.parquet"
            pq.write_table(out, directory / f".{new_name}.tmp", compression=self._settings.compression)
            (directory / f".{new_name}.tmp").replace(directory / new_name)
            rewritten.append(new_name)
        old = list(manifest.files)
        evolved = Manifest(schema=schema, files=rewritten, streams=manifest.streams,
                           diff_commits=manifest.diff_commits)
        evolved.save(directory)
        for name in old:
            (directory / name).unlink(missing_ok=True)
        return evolved

    @staticmethod
    def _boundary(directory: Path, manifest: Manifest, spec: TableSpec) -> Any:
        """The table's max(cursor) for incremental_append's re-read check (None: no check)."""
        if (spec.sync_mode is not SyncMode.INCREMENTAL_APPEND or not spec.primary_key
                or not spec.cursor_field or not manifest.files):
            return None
        best = None
        for name in manifest.files:
            column = pq.read_table(directory / name, columns=[spec.cursor_field]).column(0)
            value = pc.max(column).as_py()
            if value is not None and (best is None or value > best):
                best = value
        return best

    def _forget(self, writer: ParquetStreamWriter) -> None:
        with self._writers_lock:
            self._writers.discard(writer)

    def _require_bookkeeping(self) -> BookkeepingStore:
        if self._bookkeeping is None:
            raise RuntimeError(f"Parquet destination {self.path} is not open: use it as a context manager")
        return self._bookkeeping

    def _require_log(self) -> SyncLog:
        if self._log is None:
            raise RuntimeError(f"Parquet destination {self.path} is not open: use it as a context manager")
        return self._log


def _null_free(schema: pa.Schema) -> pa.Schema:
    """Arrow's `null` type (a column no record has filled yet) stored as text, like DuckDB does."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def read_table(path: str | Path, namespace: str, table: str) -> pa.Table | None:
    """The committed content of a table (what its manifest lists), or None if it does not exist."""
    directory = table_dir(Path(path), namespace, table)
    manifest = Manifest.load(directory)
    if manifest is None:
        return None
    parts = [pq.read_table(directory / f) for f in manifest.files]
    return pa.concat_tables(parts) if parts else manifest.schema.empty_table()
