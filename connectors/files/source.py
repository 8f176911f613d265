"""The `files` source: CSV, JSON Lines and Parquet files from a local path or glob.

Each configured pattern is one stream. Its catalog schema is the newest matching file's (Parquet
metadata, or Arrow's inference over the first MiB of CSV/JSONL; `columns` overrides types) plus
two columns Rooftop adds: `_file_path` and `_file_modified_at`, the stream's default cursor.

Incremental syncs are by file: state is the set of files already loaded (path → modification time,
in nanoseconds), so a new file or a file rewritten since is read whole, and nothing else. Files are
read oldest first and a checkpoint follows each file, so the state that says "loaded" is committed
in the same transaction as that file's last rows.

A damaged file fails its own stream only (`UnreadableFile`, naming it): the catalog is
inferred from the newest file that can be read, and reading stops at the damaged file; the stream
keeps what it last committed, and the next sync reads again from there.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
from pydantic import BaseModel

from connectors.files.column_types import parse_type
from connectors.files.config import FilesConfig, FileStream
from connectors.files.formats import READ_ERRORS, format_of, infer_schema, read_file
from protocol.errors import ConfigError, UnreadableFile
from protocol.types import Catalog, CatalogStream, ReadRequest, SourceContext, SourceItem, StateCheckpoint

log = logging.getLogger(__name__)

FILE_PATH = "_file_path"
FILE_MODIFIED_AT = "_file_modified_at"
FILE_FIELDS = [pa.field(FILE_PATH, pa.string()), pa.field(FILE_MODIFIED_AT, pa.timestamp("us", tz="UTC"))]


class FilesSource:
    """CSV, JSON Lines and Parquet files, plain or compressed, from a local path or glob."""

    name: ClassVar[str] = "files"
    config_model: ClassVar[type[BaseModel]] = FilesConfig

    def __init__(self, config: FilesConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.config = config
        self.root = root
        self._catalog: Catalog | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def check(self) -> None:
        """Every pattern's folder must exist (a pattern matching no file yet is fine)."""
        for stream in self.config.streams:
            parts = self._absolute(stream.path).parts
            # The folder part before the first wildcard (or the file's own folder).
            first_glob = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
            folder = Path(*parts[:first_glob])
            if not folder.is_dir():
                raise ConfigError(f"stream {stream.name!r}: folder {folder} does not exist")

    # -- catalog --------------------------------------------------------------------------------

    def discover(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(namespace=self.config.namespace,
                                    streams=tuple(self._describe(s) for s in self.config.streams))
        return self._catalog

    def _describe(self, stream: FileStream) -> CatalogStream:
        files = self._files(stream)
        inferred = self._infer(stream, [path for path, _ in reversed(files)])
        if not files:
            log.warning("stream %s: no file matches %s yet", stream.name, stream.path)
        fields = [pa.field(f.name, parse_type(stream.columns[f.name])) if f.name in stream.columns else f
                  for f in inferred or () if f.name not in (FILE_PATH, FILE_MODIFIED_AT)]
        names = {f.name for f in fields}
        fields += [pa.field(n, parse_type(t)) for n, t in stream.columns.items() if n not in names]
        if files and inferred is None:
            # No file is readable: keep the key columns so that planning (of every stream) goes on;
            # reading this stream then fails, naming its first damaged file.
            fields += [pa.field(k, pa.string()) for k in stream.primary_key if k not in names]
            names |= set(stream.primary_key)
        for key in stream.primary_key:
            if key not in names and key not in stream.columns:
                raise ConfigError(f"stream {stream.name!r}: primary key {key!r} is not a column of "
                                  f"{stream.path} (columns: {', '.join(sorted(names))})")
        return CatalogStream(name=stream.name, schema=pa.schema(fields + FILE_FIELDS),
                             primary_key=tuple(stream.primary_key), default_cursor=FILE_MODIFIED_AT,
                             description=f"files matching {stream.path}")

    def _infer(self, stream: FileStream, newest_first: list[Path]) -> pa.Schema | None:
        """The newest readable file's schema (empty without files; None if none is readable)."""
        for path in newest_first:
            try:
                return infer_schema(path, stream.format or format_of(path), stream.csv)
            except (UnreadableFile, *READ_ERRORS) as exc:
                log.warning("stream %s: cannot infer a schema from %s (%s); trying an older file",
                            stream.name, self._key(path), exc)
        return None if newest_first else pa.schema([])

    def _absolute(self, pattern: str) -> Path:
        path = Path(pattern).expanduser()
        return path if path.is_absolute() else self.root / path

    def _files(self, stream: FileStream) -> list[tuple[Path, int]]:
        """Matching files as (path, mtime in ns), oldest first (ties: by path)."""
        found = []
        for name in glob.glob(str(self._absolute(stream.path)), recursive=True):
            path = Path(name)
            if path.is_file():
                found.append((path, path.stat().st_mtime_ns))
        return sorted(found, key=lambda item: (item[1], str(item[0])))

    def _key(self, path: Path) -> str:
        """How a file is named in state and in `_file_path`: relative to the workspace if inside."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- reading --------------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        stream = next((s for s in self.config.streams if s.name == request.stream.name), None)
        if stream is None:
            raise ConfigError(f"files source has no stream {request.stream.name!r}")
        schema = request.stream.schema
        data_columns = [n for n in schema.names if n not in (FILE_PATH, FILE_MODIFIED_AT)]
        if request.fields is not None:
            data_columns = [n for n in data_columns if n in request.fields]
        state = dict(request.state or {}) if request.incremental else {}
        loaded: dict[str, int] = dict(state.get("files", {}))
        cutoff = int(state.get("cutoff_ns", -1))
        for path, mtime_ns in self._files(stream):
            key = self._key(path)
            if request.incremental and (loaded.get(key) == mtime_ns or (key not in loaded and mtime_ns <= cutoff)):
                continue
            modified = datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC)
            fmt = stream.format or format_of(path)
            try:
                for batch in read_file(path, fmt, schema, stream.csv, data_columns, self.config.batch_size):
                    if batch.num_rows:
                        yield _with_file_columns(batch, key, modified)
            except UnreadableFile as exc:
                raise UnreadableFile(key, exc.detail, line=exc.line) from None  # named as in state
            except READ_ERRORS as exc:
                raise UnreadableFile(key, f"not readable as {fmt}: {exc}") from None
            loaded[key] = mtime_ns
            cutoff = self._trim(loaded, cutoff)
            # After the file's last batch: committing this state commits the whole file.
            yield StateCheckpoint({"cursor": modified.isoformat(), "files": dict(loaded), "cutoff_ns": cutoff})

    def _trim(self, loaded: dict[str, int], cutoff: int) -> int:
        """Forget the oldest files beyond max_tracked_files; anything not newer counts as loaded."""
        excess = len(loaded) - self.config.max_tracked_files
        if excess <= 0:
            return cutoff
        for key, mtime in sorted(loaded.items(), key=lambda item: item[1])[:excess]:
            cutoff = max(cutoff, mtime)
            del loaded[key]
        return cutoff


def _with_file_columns(batch: pa.RecordBatch, key: str, modified: datetime) -> pa.RecordBatch:
    n = batch.num_rows
    arrays: list[Any] = list(batch.columns)
    arrays.append(pa.repeat(pa.scalar(key, pa.string()), n))
    arrays.append(pa.repeat(pa.scalar(modified, pa.timestamp("us", tz="UTC")), n))
    names = [*batch.schema.names, FILE_PATH, FILE_MODIFIED_AT]
    return pa.RecordBatch.from_arrays(arrays, names=names)

