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
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, TypeAlias, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    # Only annotations need them here: importing pyarrow (~0.25 CPU s with its compute kernels) is
    # left to the code that moves data, so `rooftop validate --offline` and `status` start fast.
    import pyarrow as pa

    from protocol.bookkeeping import BookkeepingTable
    from protocol.schema_store import SchemaStore

META_EXTRACTED_AT = "_rooftop_extracted_at"
META_SYNC_ID = "_rooftop_sync_id"
META_META = "_rooftop_meta"
META_DELETED_AT = "_rooftop_deleted_at"
META_COLUMNS = (META_EXTRACTED_AT, META_SYNC_ID, META_META, META_DELETED_AT)

IdentifierKind = Literal["namespace", "table", "column"]
"""What a destination name is, for `Destination.identifier_problem`."""

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
    schema_known: bool = True
    """False when the source described the stream without reading it (`SourceContext.offline`) and
    knew no schema: `schema` then holds only the fields its config names (keys, cursor); the rest is
    learnt when a sync discovers the stream."""

    @property
    def default_sync_mode(self) -> SyncMode:
        if self.default_cursor and self.primary_key and SyncMode.INCREMENTAL_DEDUPED in self.supported_sync_modes:
            return SyncMode.INCREMENTAL_DEDUPED
        return SyncMode.FULL_REFRESH_OVERWRITE


@dataclass(frozen=True)
class PropertyScope:
    """Which records belong to which property, for sources organised by property (every PMS).

    It lets a connection select properties (`properties:` in the YAML): the engine lists the
    `stream` to learn every property, and passes the enabled ids in `ReadRequest.properties`.
    """

    stream: str
    """The stream that lists properties (read in full to discover them)."""
    id_field: str = "id"
    name_field: str | None = "name"
    members: Mapping[str, str | None] = field(default_factory=dict)
    """Every property-scoped stream -> the field of its records that holds the property id (e.g.
    units: property_id; the property stream: its id_field), or None when its records do not carry
    it (e.g. leases, which know only their unit): the source alone keeps those to the selection."""


@dataclass(frozen=True)
class Catalog:
    namespace: str
    """The source's own namespace (`namespace: source` lands tables in a schema of this name)."""
    streams: tuple[CatalogStream, ...]
    properties: PropertyScope | None = None
    """Set by sources whose records belong to properties; None otherwise."""

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
    """The last committed checkpoint for this stream, or None (first sync or --full-refresh), upgraded
    to the source's current `state_version` and without Rooftop's version keys (protocol.state_versions)."""
    start_date: date | None = None
    end_date: date | None = None
    fields: tuple[str, ...] | None = None
    """The fields the engine keeps (None: all). A source may skip reading the others (a SQL
    source selects only these columns); it may also return them all."""
    lookback_seconds: float | None = None
    """Read again this much before the saved cursor (late-arriving updates); None: the source's own."""
    properties: frozenset[str] | None = None
    """Ids (as text) of the properties to read, for streams in the catalog's `PropertyScope`; None:
    all. A source should not even request a property outside the set (child endpoints of a
    disabled property cost API quota); the engine drops any such record that still arrives.
    A source that reads per property should keep a cursor per property in its state, so that a
    property enabled later is read from its start rather than from everyone else's cursor."""


@dataclass(frozen=True)
class StateCheckpoint:
    """Emitted by a source between batches: every record before it is covered by `state`.

    `state` must be JSON-serialisable. By convention `state["cursor"]` holds the highest cursor
    value seen, which the engine reports; the rest is private to the source.
    """

    state: Mapping[str, Any]


if TYPE_CHECKING:
    SourceItem: TypeAlias = pa.RecordBatch | StateCheckpoint
    """What `Source.read` yields: record batches and, between them, checkpoints."""
else:
    def __getattr__(name: str) -> object:
        # `SourceItem` is a runtime value too (the SDK re-exports it): built on first use, with pyarrow.
        if name == "SourceItem":
            import pyarrow as pa

            return pa.RecordBatch | StateCheckpoint
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    record_diffs: bool = False
    """incremental_deduped only: every merge also appends to `_rooftop.diffs` (see protocol.bookkeeping),
    in the same transaction, one row per primary key it inserted, updated or soft-deleted."""


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
    schema_store: SchemaStore | None = None
    """Where to keep schemas the source learns (the warehouse's `_rooftop.schemas`); None: no warehouse."""
    offline: bool = False
    """The catalog is wanted without reading the source (a Dagster code-location load, which every
    Dagster process repeats): `discover` should send no request and start nothing, describing each
    stream from its configuration and cached schemas, with `schema_known=False` where it knows no
    schema. A source that cannot do that may ignore it; it is then discovered as usual."""
    named_streams: tuple[str, ...] | None = None
    """The streams the connection file lists (None: it takes all the source has). An offline
    `discover` that cannot list streams without reading (`sql`) describes these."""


@runtime_checkable
class Source(Protocol):
    """A configured source. Used as a context manager around check/discover/read.

    Constructed as `SourceClass(config, root=workspace_root, context=SourceContext(...))` where
    `config` is an instance of `config_model` (secret fields are `SecretStr`), relative paths
    resolve against `root`, and `context` carries the connection's rate limit and concurrency (and, in
    a sync, the store for schemas the source learns: protocol.schema_store).

    Optional (looked up with getattr, so sources without them keep working): a class attribute
    `state_version: ClassVar[int]` and a method `migrate_state(state, from_version) -> dict`, for a
    source that changes the shape of its own state (`protocol.state_versions.MigratesState`,
    docs/state.md). Without them the source's states are version 1 and are handed back as saved.
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

    Optional (looked up with getattr, so older destinations keep working): a staticmethod
    `identifier_problem(kind: IdentifierKind, name: str) -> str | None` saying why `name` cannot be
    stored intact as a namespace, table or column (e.g. "is 70 bytes, over PostgreSQL's 63-byte
    limit"), or None. The planner asks it about every name before anything is written; a
    destination without it has no limits.
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
    def append_bookkeeping(self, table: BookkeepingTable, rows: pa.Table) -> None:
        """Append `rows` (schema: `table.schema`) to `_rooftop.<table.name>` in a transaction of its own."""
    def read_bookkeeping(self, table: BookkeepingTable, connection: str,
                         where: Mapping[str, str] | None = None) -> pa.Table:
        """Rows of `connection` whose columns equal `where`'s values, with `table.schema` (empty if none)."""
    def prune_history(self, name: str, connection: str, before: datetime) -> int:
        """Delete `connection`'s rows older than `before` from `_rooftop.<name>` (one of
        protocol.bookkeeping.PRUNABLE; `syncs` is the sync history); return how many."""


@runtime_checkable
class RecordLookup(Protocol):
    """Optional for a destination: answering whether a landed table holds a record (checked with
    isinstance, so a destination written without it is still a `Destination`). Write-back looks a bare
    vendor id up with it (`PUT /v1/residents/45` without `?connection=`); without it such a write
    asks for `?connection=`. All built-in destinations have it."""

    def record_exists(self, namespace: str, table: str, column: str, value: str,
                      json_path: tuple[str, ...] = ()) -> bool:
        """Whether a row of a landed table has `column` (compared as text) equal to `value`; False if
        the table or column is missing. With `json_path`, whether the JSON in `column` holds `value`
        at that path (keys; a list matches if any element does: `destinations.json_paths`), for
        records that live inside another stream's rows (Entrata's customers in its leases). Called
        *without* entering the destination: a read of its own that takes no writer's lock."""


def field_names(schema: pa.Schema) -> Sequence[str]:
    return [f.name for f in schema]
