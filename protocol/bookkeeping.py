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

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class BookkeepingTable:
    name: str
    """Table name inside `_rooftop`."""
    schema: pa.Schema
    time_column: str
    """Retention prunes rows whose value here is older than the cut-off."""


SYNC_LOGS = BookkeepingTable("sync_logs", pa.schema([
    pa.field("connection", pa.string(), nullable=False),
    pa.field("sync_id", pa.string(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("at", UTC_TS, nullable=False),
    pa.field("level", pa.string(), nullable=False),
    pa.field("event", pa.string()),
    pa.field("stream", pa.string()),
    pa.field("message", pa.string(), nullable=False),
    pa.field("data", pa.string()),  # JSON object of the event's fields, secrets redacted
]), time_column="at")

PROPERTIES = BookkeepingTable("properties", pa.schema([
    pa.field("connection", pa.string(), nullable=False),
    pa.field("property_id", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("first_seen_at", UTC_TS, nullable=False),
    pa.field("first_seen_sync_id", pa.string()),
]), time_column="first_seen_at")

DIFFS = BookkeepingTable("diffs", pa.schema([
    pa.field("connection", pa.string(), nullable=False),
    pa.field("stream", pa.string(), nullable=False),
    pa.field("sync_id", pa.string(), nullable=False),
    pa.field("recorded_at", UTC_TS, nullable=False),
    pa.field("change", pa.string(), nullable=False),  # inserted | updated | deleted
    pa.field("key", pa.string(), nullable=False),  # JSON object: primary-key column -> value
    pa.field("fields", pa.string(), nullable=False),  # JSON list of changed column names ([] unless updated)
]), time_column="recorded_at")

WRITES = BookkeepingTable("writes", pa.schema([
    pa.field("connection", pa.string(), nullable=False),
    pa.field("write_id", pa.string(), nullable=False),
    pa.field("recorded_at", UTC_TS, nullable=False),
    pa.field("status", pa.string(), nullable=False),  # queued | running | succeeded | failed
    pa.field("resource", pa.string(), nullable=False),
    pa.field("operation", pa.string(), nullable=False),  # create | update
    pa.field("record_id", pa.string()),  # the vendor's id (for a create: once the source gave one)
    pa.field("attempts", pa.int64(), nullable=False),  # HTTP attempts the send took (0 before sending)
    pa.field("ignored_fields", pa.string()),  # JSON list of the fields stripped by ignore_unknown_fields
    pa.field("request", pa.string()),  # JSON: method, path and the payload sent, secrets masked
    pa.field("response", pa.string()),  # JSON: status and body of the source's answer, secrets masked
    pa.field("error", pa.string()),
]), time_column="recorded_at")
"""Write-back jobs (`pipelines.writes`): append-only, one row per status change; a write's newest row is its state."""

SCHEMAS = BookkeepingTable("schemas", pa.schema([
    pa.field("connection", pa.string(), nullable=False),
    pa.field("stream", pa.string(), nullable=False),
    pa.field("fingerprint", pa.string()),  # of the stream settings the schema was learnt from
    pa.field("schema", pa.string(), nullable=False),  # the source's JSON text (rest_api: fields + Arrow IPC)
    pa.field("saved_at", UTC_TS, nullable=False),
]), time_column="saved_at")
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
    extra = sorted(set(rows.column_names) - set(schema.names))
    if extra:
        raise ValueError(f"rows for _rooftop have unknown column(s) {', '.join(extra)}")
    arrays = []
    for f in schema:
        if f.name in rows.column_names:
            column = pc.cast(rows.column(f.name), f.type)
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
