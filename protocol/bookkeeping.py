"""Rooftop's own bookkeeping tables in a destination's `_rooftop` schema, beyond state and syncs.

They hold what operators look at after the fact: the structured log of each sync (`rooftop logs`),
the properties a connection has seen (`rooftop properties`), the row-level changes each sync
made to deduplicated tables (`rooftop diffs`), the write-back jobs sent to sources
(`rooftop writes`), and the schemas sources inferred (`schemas`, `protocol.schema_store`). Every
destination stores them with the generic `append_bookkeeping` / `read_bookkeeping` /
`prune_history` methods of the Destination protocol; only `diffs` is written by the stream
writers themselves, inside the same transaction as the merge it describes,
so a diff exists exactly when its change does.

Column types are deliberately plain (strings, integers, UTC timestamps; JSON held as text) so that
every destination stores them the same way and readers need no per-destination code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

ColumnKind = Literal["string", "int64", "timestamp"]
"""The only column types bookkeeping tables use; `timestamp` is a UTC instant in microseconds."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool = True


@dataclass(frozen=True)
class BookkeepingTable:
    """A `_rooftop` table described as plain data: opening a warehouse (`rooftop status`, creating the
    tables of a new one) needs only names and kinds, and importing pyarrow costs ~0.25 CPU s. The Arrow
    schema, which appends and reads use, is built on first use."""

    name: str
    """Table name inside `_rooftop`."""
    columns: tuple[Column, ...]
    time_column: str
    """Retention prunes rows whose value here is older than the cut-off."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"_rooftop.{self.name} has no column {name!r}")

    @functools.cached_property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the table's rows (`append_bookkeeping` takes, `read_bookkeeping` returns)."""
        import pyarrow as pa

        return pa.schema([pa.field(c.name, arrow_type(c.kind), nullable=c.nullable) for c in self.columns])


def arrow_type(kind: ColumnKind) -> pa.DataType:
    """The Arrow type of a bookkeeping column kind."""
    import pyarrow as pa

    if kind == "string":
        return pa.string()
    if kind == "int64":
        return pa.int64()
    return pa.timestamp("us", tz="UTC")


def _required(name: str, kind: ColumnKind) -> Column:
    return Column(name, kind, nullable=False)


SYNC_LOGS = BookkeepingTable("sync_logs", (
    _required("connection", "string"),
    _required("sync_id", "string"),
    _required("seq", "int64"),
    _required("at", "timestamp"),
    _required("level", "string"),
    Column("event", "string"),
    Column("stream", "string"),
    _required("message", "string"),
    Column("data", "string"),  # JSON object of the event's fields, secrets redacted
), time_column="at")

PROPERTIES = BookkeepingTable("properties", (
    _required("connection", "string"),
    _required("property_id", "string"),
    Column("name", "string"),
    _required("first_seen_at", "timestamp"),
    Column("first_seen_sync_id", "string"),
), time_column="first_seen_at")

DIFFS = BookkeepingTable("diffs", (
    _required("connection", "string"),
    _required("stream", "string"),
    _required("sync_id", "string"),
    _required("recorded_at", "timestamp"),
    _required("change", "string"),  # inserted | updated | deleted
    _required("key", "string"),  # JSON object: primary-key column -> value
    _required("fields", "string"),  # JSON list of changed column names ([] unless updated)
), time_column="recorded_at")

WRITES = BookkeepingTable("writes", (
    _required("connection", "string"),
    _required("write_id", "string"),
    _required("recorded_at", "timestamp"),
    _required("status", "string"),  # queued | running | succeeded | failed
    _required("resource", "string"),
    _required("operation", "string"),  # create | update
    Column("record_id", "string"),  # the vendor's id (for a create: once the source gave one)
    _required("attempts", "int64"),  # HTTP attempts the send took (0 before sending)
    Column("ignored_fields", "string"),  # JSON list of the fields stripped by ignore_unknown_fields
    Column("request", "string"),  # JSON: method, path and the payload sent, secrets masked
    Column("response", "string"),  # JSON: status and body of the source's answer, secrets masked
    Column("error", "string"),
), time_column="recorded_at")
"""Write-back jobs (`pipelines.writes`): append-only, one row per status change; a write's newest row is its state."""

SCHEMAS = BookkeepingTable("schemas", (
    _required("connection", "string"),
    _required("stream", "string"),
    Column("fingerprint", "string"),  # of the stream settings the schema was learnt from
    _required("schema", "string"),  # the source's JSON text (rest_api: fields + Arrow IPC)
    _required("saved_at", "timestamp"),
), time_column="saved_at")
"""Schemas sources learnt (rest_api's inferred and widened ones): append-only, a stream's newest row wins
(`protocol.schema_store`). In the warehouse, so any machine running the connection finds them."""

META_TABLES: dict[str, BookkeepingTable] = {t.name: t for t in (SYNC_LOGS, PROPERTIES, DIFFS, WRITES, SCHEMAS)}

SYNCS_TIME_COLUMN = "started_at"
"""`prune_history("syncs", …)` prunes `_rooftop.syncs` (the sync history) on this column."""
PRUNABLE = ("syncs", "sync_logs", "diffs")
"""Names `prune_history` accepts. Properties are never pruned: first-seen times must survive."""


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with exactly `schema`'s columns and types, for `append_bookkeeping`: absent nullable columns
    become nulls; unknown columns and nulls in required ones are refused with a clear message
    (before a destination's NOT NULL would refuse them less clearly, half way through an insert)."""
    import pyarrow as pa

    extra = sorted(set(rows.column_names) - set(schema.names))
    if extra:
        raise ValueError(f"rows for _rooftop have unknown column(s) {', '.join(extra)}")
    arrays = []
    for f in schema:
        if f.name in rows.column_names:
            column = rows.column(f.name).cast(f.type)
            if not f.nullable and column.null_count:
                raise ValueError(f"rows for _rooftop have nulls in the required column {f.name!r}")
        elif f.nullable:
            column = pa.chunked_array([pa.nulls(rows.num_rows, f.type)])
        else:
            raise ValueError(f"rows for _rooftop lack the required column {f.name!r}")
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class StorageLimits:
    """Values a destination cannot store. A destination declares its own as the class attribute
    `storage_limits`; the engine's transformer nulls every value outside them and records it in
    that row's `_rooftop_meta` (a data error, counted), so one odd value never fails a stream.

    Dates and timestamps are limited to years 1-9999 on every destination by default, although
    DuckDB, Postgres and Parquet hold wider (and different) ranges: outside it Python's datetime,
    which every ordinary reader of the warehouse returns (psycopg, DuckDB's and pyarrow's Python
    clients, pandas), cannot represent the value, and Postgres' text input has no year 0.
    """

    nul_in_text: bool = True
    """False: a string holding U+0000, alone or inside a nested (JSON) value, cannot be stored."""
    min_year: int = 1
    max_year: int = 9999

    def __post_init__(self) -> None:
        if not 1 <= self.min_year <= self.max_year <= 9999:
            raise ValueError("storage limits can only narrow the years 1-9999")


DEFAULT_STORAGE_LIMITS = StorageLimits()
"""What the engine assumes of a destination that declares no `storage_limits`."""
