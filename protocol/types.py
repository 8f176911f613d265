"""The seam between sources, the engine and destinations.

`connectors` and `destinations` never import each other or `pipelines`; everything they must agree
on lives here: the catalog a source describes, what the engine asks a source to read, the table a
destination is asked to write, and the Protocols for both sides. Data crosses the seam only as
`pyarrow.RecordBatch`es, interleaved with `StateCheckpoint`s.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import pyarrow as pa
from pydantic import BaseModel

META_EXTRACTED_AT = "_rooftop_extracted_at"
META_SYNC_ID = "_rooftop_sync_id"
META_META = "_rooftop_meta"
META_DELETED_AT = "_rooftop_deleted_at"
META_COLUMNS = (META_EXTRACTED_AT, META_SYNC_ID, META_META, META_DELETED_AT)

META_SCHEMA = "_rooftop"
"""The destination schema that holds `state` and `syncs` (and the staging tables of some sinks)."""


class SyncMode(str, enum.Enum):
    FULL_REFRESH_OVERWRITE = "full_refresh_overwrite"
    FULL_REFRESH_APPEND = "full_refresh_append"
    INCREMENTAL_APPEND = "incremental_append"
    INCREMENTAL_DEDUPED = "incremental_deduped"

    @property
    def incremental(self) -> bool:
        return self in (SyncMode.INCREMENTAL_APPEND, SyncMode.INCREMENTAL_DEDUPED)


@dataclass(frozen=True)
class CatalogStream:
    """One stream as a source describes it (`discover`)."""

    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...] = ()
    default_cursor: str | None = None
    supported_sync_modes: tuple[SyncMode, ...] = tuple(SyncMode)
    description: str = ""
    deleted_field: str | None = None
    """A field whose non-null value marks a record as deleted at the source (a tombstone)."""

    @property
    def default_sync_mode(self) -> SyncMode:
        if self.default_cursor and self.primary_key and SyncMode.INCREMENTAL_DEDUPED in self.supported_sync_modes:
            return SyncMode.INCREMENTAL_DEDUPED
        return SyncMode.FULL_REFRESH_OVERWRITE


@dataclass(frozen=True)
class Catalog:
    namespace: str
    """The source's own namespace (`namespace: source` lands tables in a schema of this name)."""
    streams: tuple[CatalogStream, ...]

    def get(self, name: str) -> CatalogStream | None:
        return next((s for s in self.streams if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.streams]


@dataclass(frozen=True)
class ReadRequest:
    """What the engine asks a source to read for one stream."""

    stream: CatalogStream
    incremental: bool
    cursor_field: str | None
    state: Mapping[str, Any] | None
    """The last committed checkpoint for this stream, or None (first sync or --full-refresh)."""
    start_date: date | None = None
    end_date: date | None = None
    fields: tuple[str, ...] | None = None
    """The fields the engine keeps (None: all). A source may skip reading the others (a SQL
    source selects only these columns); it may also return them all."""


@dataclass(frozen=True)
class StateCheckpoint:
    """Emitted by a source between batches: every record before it is covered by `state`.

    `state` must be JSON-serialisable. By convention `state["cursor"]` holds the highest cursor
    value seen, which the engine reports; the rest is private to the source.
    """

    state: Mapping[str, Any]


SourceItem = pa.RecordBatch | StateCheckpoint


@dataclass(frozen=True)
class TableSpec:
    """The table a destination is asked to write for one stream of one sync."""

    connection: str
    stream: str
    namespace: str
    table: str
    schema: pa.Schema
    """The final column layout, meta columns included, in order."""
    sync_mode: SyncMode
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    widen: tuple[str, ...] = ()
    """Existing columns whose type `prepare` must change to the (wider) type in `schema`
    (`schema_changes: propagate`); every other existing column keeps its type."""


@dataclass(frozen=True)
class SyncRecord:
    """One row of `_rooftop.syncs`: one stream of one sync."""

    connection: str
    stream: str
    sync_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    rows_read: int = 0
    rows_written: int = 0
    error_count: int = 0
    error_message: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceContext:
    """Connection-level settings a source must honour but that are not part of its own config."""

    connection: str = ""
    rate_limit_requests: int | None = None
    rate_limit_per_seconds: float = 1.0
    """At most `rate_limit_requests` requests per `rate_limit_per_seconds`, across all streams."""
    max_concurrency: int = 1


@runtime_checkable
class Source(Protocol):
    """A configured source. Used as a context manager around check/discover/read.

    Constructed as `SourceClass(config, root=workspace_root, context=SourceContext(...))` where
    `config` is an instance of `config_model` (secret fields are `SecretStr`), relative paths
    resolve against `root`, and `context` carries the connection's rate limit and concurrency.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any, *, root: Path, context: SourceContext | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def check(self) -> None:
        """Raise AuthError/ConfigError/TransientError when the source cannot be read."""
    def discover(self) -> Catalog: ...
    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        """Yield record batches and, between them, checkpoints covering everything before."""


class StreamWriter(Protocol):
    """Writes one stream of one sync. Not shared between threads."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Stage a batch in the open transaction (not visible to readers before `commit`)."""
    def commit(self, state: Mapping[str, Any] | None) -> None:
        """Make every batch written so far durable together with `state`, in one transaction."""
    def finish(self, state: Mapping[str, Any] | None) -> int:
        """Final commit (swap or append staged rows); return the table's total row count."""
    def abort(self) -> None:
        """Roll back whatever was not committed; leave the visible table untouched."""


@runtime_checkable
class Destination(Protocol):
    """A configured destination, constructed like a Source: `DestClass(config, root=...)`.

    Entering it connects (waiting for a lock if needed, else WarehouseLocked) and creates the
    `_rooftop` schema; writers from `prepare` may be used from different threads, one each.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    default_namespace: str
    commit_every_rows: int
    """The engine commits the latest checkpoint once this many rows were written since the last."""

    def __init__(self, config: Any, *, root: Path) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def check(self) -> None: ...
    def read_state(self, connection: str) -> dict[str, dict[str, Any]]:
        """Committed state per stream of `connection`."""
    def prepare(self, spec: TableSpec, sync_id: str) -> StreamWriter:
        """Create or evolve the table (and its staging table) and return its writer."""
    def record_sync(self, record: SyncRecord) -> None:
        """Insert or update one row of `_rooftop.syncs`."""
    def mark_interrupted(self, connection: str) -> int:
        """Mark `running` rows of `connection` left by a killed process as `interrupted`."""
    def recent_syncs(self, connection: str, limit: int = 20) -> list[SyncRecord]: ...
    def table_stats(self, namespace: str, table: str) -> int | None:
        """Row count of a landed table, or None if it does not exist."""
    def count_duplicate_keys(self, namespace: str, table: str, keys: tuple[str, ...]) -> int:
        """How many distinct `keys` values occur in more than one row (0 if the table is missing).

        Orchestrators check deduplicated tables with it (Dagster's primary-key asset check).
        """
    def describe_table(self, namespace: str, table: str) -> pa.Schema | None:
        """An existing table's columns as Arrow types (meta columns included), or None."""


def field_names(schema: pa.Schema) -> Sequence[str]:
    return [f.name for f in schema]
