"""Rooftop's own `_rooftop` tables (sync logs, properties, diffs) in a Parquet lake.

    <root>/_rooftop/<table>/<connection>/<time ns>-<id>.parquet   committed rows, one file per append
    <root>/_rooftop/diffs/<connection>/pending/<token>.parquet    a merge's diffs, awaiting its commit

A file per append, because appends come from several processes (a sync, `rooftop properties`) and
must neither contend nor rewrite what others wrote: each file is written to a temporary name,
fsynced and renamed, so it becomes durable and visible at once, and readers skip temporary files
(`.*.tmp`) a crash may leave. Names sort by creation time, so reads return rows in append order.
Pruning deletes whole files, or atomically replaces a file that holds old and new rows with one that
keeps the new ones (same name: readers see the old file or the new one).

Diffs must appear exactly when the merge they describe does, i.e. with the table's manifest commit
(`layout.py`), but they live here, outside the table, so that retention can prune them without
rewriting manifests that other streams commit. `DiffJournal` ties the two together:

1. the merge's diff rows go to `pending/<token>.parquet` (fsynced) under a fresh random token;
2. the table's manifest is saved with `diff_commits[connection][stream] = token`: this one rename
   commits the data, the state and the diffs together;
3. the pending file is renamed to its final name `<time>-<token>.parquet`.

A crash before 2 leaves a pending file whose token no manifest holds: readers ignore it, and the
stream's next `prepare` deletes it. A crash between 2 and 3 leaves a pending file whose token is its
stream's current one: readers already count it, and the next `prepare` finishes step 3. The token
of a stream only changes at its next diff commit, which cannot happen before that `prepare` (and
only one process writes a connection at a time, see `ConnectionLock`), so the check is exact.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from destinations.parquet.layout import Manifest, dir_name, fsync_file
from protocol.bookkeeping import DIFFS, BookkeepingTable, arrow_type
from protocol.types import META_SCHEMA

PENDING = "pending"
_TABLE_KEY = b"rooftop.table"
"""Parquet key-value metadata of a pending diff file: the table directory (relative to the root)."""
_STREAM_KEY = b"rooftop.stream"


class BookkeepingStore:
    """`append_bookkeeping` / `read_bookkeeping` / `prune_history` over `<root>/_rooftop/<table>/<connection>/`."""

    def __init__(self, root: Path, compression: str) -> None:
        self.root = root
        self.compression = compression

    def folder(self, name: str, connection: str) -> Path:
        return self.root / META_SCHEMA / name / dir_name(connection)

    def append(self, table: BookkeepingTable, rows: pa.Table) -> None:
        rows = _conform(rows, table.schema, strict=True)
        if rows.num_rows == 0:
            return
        connections = rows.column("connection")
        if connections.null_count:
            raise ValueError(f"_rooftop.{table.name}: every row needs a connection")
        # Each connection has its own folder, so that reading or pruning one never opens another's.
        for connection in pc.unique(connections).to_pylist():
            folder = self.folder(table.name, connection)
            folder.mkdir(parents=True, exist_ok=True)
            write_parquet(folder / new_name(), rows.filter(pc.equal(connections, connection)), self.compression)

    def read(self, table: BookkeepingTable, connection: str, where: Mapping[str, str] | None = None) -> pa.Table:
        conditions = dict(where or {})
        unknown = sorted(set(conditions) - set(table.schema.names))
        if unknown:
            raise ValueError(f"_rooftop.{table.name} has no column(s) {', '.join(unknown)}")
        folder = self.folder(table.name, connection)
        # Pending diffs are read before the final files are listed: one promoted in between is then
        # seen as a final file, and its pending copy is dropped by token below (never lost, never twice).
        pending = DiffJournal(self).committed(connection) if table is DIFFS else {}
        paths = sorted(folder.glob("*.parquet")) if folder.exists() else []
        parts = [part for part in (_read(path) for path in paths) if part is not None]
        finals = {_token(path) for path in paths}
        parts.extend(part for token, part in pending.items() if token not in finals)
        if not parts:
            return table.schema.empty_table()
        data = pa.concat_tables([_conform(part, table.schema) for part in parts])
        mask = pc.equal(data.column("connection"), connection)
        for name, value in conditions.items():
            column = data.column(name)
            test = pc.is_null(column) if value is None else pc.equal(column, pa.scalar(value).cast(column.type))
            mask = pc.and_(mask, test)
        return data.filter(pc.fill_null(mask, False))

    def prune(self, table: BookkeepingTable, connection: str, before: datetime) -> int:
        folder = self.folder(table.name, connection)
        before = before if before.tzinfo else before.replace(tzinfo=UTC)  # naive: UTC, as Rooftop writes
        utc = arrow_type("timestamp")
        cutoff = pa.scalar(before, utc)
        count = 0
        _remove_stale_temps([folder, folder / PENDING], before)
        for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
            try:  # only the two columns that decide: most files are all old or all new
                probe = pq.read_table(path, columns=["connection", table.time_column])
            except FileNotFoundError:
                continue
            old = pc.fill_null(pc.and_(pc.equal(probe.column("connection"), connection),
                                       pc.less(pc.cast(probe.column(table.time_column), utc), cutoff)), False)
            drop = int(pc.sum(old).as_py() or 0)
            if drop == len(probe):
                path.unlink(missing_ok=True)
            elif drop:
                write_parquet(path, pq.read_table(path).filter(pc.invert(old)), self.compression)
            count += drop
        return count


class DiffJournal:
    """The commit protocol of a merge's diff rows (see the module docstring)."""

    def __init__(self, store: BookkeepingStore) -> None:
        self.store = store

    def stage(self, manifest: Manifest, directory: Path, connection: str, stream: str, rows: pa.Table) -> str:
        """Write `rows` as a pending file and record its token in `manifest` (not yet saved)."""
        token = uuid.uuid4().hex
        pending = self.store.folder(DIFFS.name, connection) / PENDING
        pending.mkdir(parents=True, exist_ok=True)
        tagged = rows.replace_schema_metadata({
            _TABLE_KEY: str(directory.relative_to(self.store.root)).encode(), _STREAM_KEY: stream.encode()})
        write_parquet(pending / f"{token}.parquet", tagged, self.store.compression)
        manifest.diff_commits.setdefault(connection, {})[stream] = token
        return token

    def publish(self, connection: str, token: str) -> None:
        """Step 3: the manifest holding `token` is saved; give its diffs their final name."""
        folder = self.store.folder(DIFFS.name, connection)
        os.replace(folder / PENDING / f"{token}.parquet", folder / new_name(token))

    def resolve(self, connection: str, stream: str) -> None:
        """Finish or discard what a crashed writer of `stream` left pending (before it writes again)."""
        pending = self.store.folder(DIFFS.name, connection) / PENDING
        if not pending.exists():
            return
        # Temporary files are left alone: another stream's writer may be writing one right now
        # (retention removes those a crash left, see `_remove_stale_temps`).
        for path in pending.glob("*.parquet"):
            try:
                tags = pq.read_schema(path).metadata or {}
            except FileNotFoundError:
                continue  # another stream's, published meanwhile
            if tags.get(_STREAM_KEY, b"").decode() != stream:
                continue  # another stream's: its own writer may be between steps 1 and 3 right now
            if self._is_committed(path, connection, tags, {}):
                self.publish(connection, path.stem)
            else:
                path.unlink(missing_ok=True)

    def committed(self, connection: str) -> dict[str, pa.Table]:
        """Pending files whose manifest was saved (step 2 done, 3 not yet), by token."""
        pending = self.store.folder(DIFFS.name, connection) / PENDING
        found: dict[str, pa.Table] = {}
        manifests: dict[str, Manifest | None] = {}
        for path in sorted(pending.glob("*.parquet")) if pending.exists() else []:
            data = _read(path)
            if data is not None and self._is_committed(path, connection, data.schema.metadata or {}, manifests):
                found[path.stem] = data.replace_schema_metadata(None)
        return found

    def _is_committed(self, path: Path, connection: str, tags: Mapping[bytes, bytes],
                      manifests: dict[str, Manifest | None]) -> bool:
        table = tags.get(_TABLE_KEY, b"").decode()
        if not table:
            return False
        if table not in manifests:
            manifests[table] = Manifest.load(self.store.root / table)
        manifest = manifests[table]
        stream = tags.get(_STREAM_KEY, b"").decode()
        return manifest is not None and manifest.diff_commits.get(connection, {}).get(stream) == path.stem


def new_name(token: str | None = None) -> str:
    """A file name that sorts by creation time and never collides."""
    return f"{time.time_ns():020d}-{token or uuid.uuid4().hex}.parquet"


def write_parquet(path: Path, table: pa.Table, compression: str) -> None:
    """Write `table` to `path` atomically and durably: temp file, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression=compression)
            fsync_file(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself must survive a power loss, not only the bytes
    finally:
        os.close(fd)


def _remove_stale_temps(folders: list[Path], before: datetime) -> None:
    """Delete temporary files a crash left, once older than the retention cut-off (and an hour at
    least): a live writer's temporary file is seconds old, so this never races one."""
    cutoff = min(before.timestamp(), time.time() - 3600)
    for folder in folders:
        for path in folder.glob(".*.tmp") if folder.exists() else []:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                continue


def _token(path: Path) -> str:
    return path.stem.partition("-")[2]


def _read(path: Path) -> pa.Table | None:
    """A file's rows, or None if it vanished since it was listed (pruned, or a pending file promoted)."""
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        return None


def _conform(rows: pa.Table, schema: pa.Schema, strict: bool = False) -> pa.Table:
    """`rows` with exactly `schema`'s columns and types (absent nullable columns become nulls).

    `strict` (input to append) also refuses unknown columns and nulls in required ones, as a SQL
    destination's NOT NULL would; files already stored are read leniently (older layouts)."""
    if strict and (extra := sorted(set(rows.column_names) - set(schema.names))):
        raise ValueError(f"rows for _rooftop have unknown column(s) {', '.join(extra)}")
    arrays = []
    for f in schema:
        if f.name in rows.column_names:
            arrays.append(pc.cast(rows.column(f.name), f.type))
            if strict and not f.nullable and arrays[-1].null_count:
                raise ValueError(f"rows for _rooftop have nulls in the required column {f.name!r}")
        elif strict and not f.nullable:
            raise ValueError(f"rows for _rooftop lack the required column {f.name!r}")
        else:
            arrays.append(pa.nulls(rows.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
