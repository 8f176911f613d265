"""Where sources keep schemas they had to learn (inferred, widened): in the warehouse, `_rooftop.schemas`.

A source whose streams declare no schema (`rest_api`) samples the API to infer one and widens it
when new fields appear. What it learnt must outlive the process and be found by whichever machine
runs the connection next, so it is stored where the state is: in the connection's warehouse, one
row per save (connection, stream, the fingerprint of the stream config it was learnt from, the
schema as JSON text), the newest row of a stream winning. Connectors cannot import destinations,
so they see only the `SchemaStore` Protocol, handed to them in `SourceContext.schema_store`; a
source given none (e.g. `rooftop discover`, which opens no warehouse) keeps its own fallback.

`WarehouseSchemaStore` is the engine's implementation over a destination: `load` reads
`_rooftop.schemas` through a destination-specific reader that works before the destination is
opened (read-only: discovery runs before planning, and bad input never touches the warehouse);
`save` only holds the entries, and the engine writes them with `flush` once the sync is done, in
a short transaction of their own (DuckDB: joined to the one that stores the sync log), so saving
never takes a lock mid-sync and a sync stopped by bad input writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import pyarrow as pa

from protocol.bookkeeping import SCHEMAS

log = logging.getLogger("rooftop.schemas")


@dataclass(frozen=True)
class SchemaEntry:
    """One stream's learnt schema: `schema` is the source's own JSON text, opaque to the store."""

    stream: str
    schema: str
    fingerprint: str | None = None
    """Of the stream settings the schema was learnt from (the source decides when it is stale)."""


@runtime_checkable
class SchemaStore(Protocol):
    """Learnt schemas per connection and stream; the newest save of a stream wins."""

    def load(self, connection: str) -> dict[str, SchemaEntry]:
        """The current entry of every stream of `connection` that has one."""
        ...

    def save(self, connection: str, entries: Sequence[SchemaEntry]) -> None:
        """Remember `entries` (each replaces its stream's current one)."""
        ...


ReadRows = Callable[[str], pa.Table]
"""A connection's `_rooftop.schemas` rows (SCHEMAS.schema), readable whether or not the destination is open."""
WriteRows = Callable[[pa.Table], None]
"""Append rows to `_rooftop.schemas`, called on the open destination."""


class WarehouseSchemaStore:
    """`SchemaStore` over a destination's `_rooftop.schemas` (see the module docstring)."""

    def __init__(self, read: ReadRows, write: WriteRows, where: str) -> None:
        self._read = read
        self._write = write
        self.where = where
        """Where the entries live, for messages (e.g. `_rooftop.schemas in /data/wh.duckdb`)."""
        self._held: dict[tuple[str, str], SchemaEntry] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return self.where

    def load(self, connection: str) -> dict[str, SchemaEntry]:
        try:
            found = newest_entries(self._read(connection))
        except Exception as exc:  # noqa: BLE001 - a cache: unreadable means learn again, the sync goes on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.warning("cannot read the saved schemas of %s from %s (%s: %s); inferring them again",
                        connection, self.where, type(exc).__name__, first,
                        extra={"event": "schema_cache_unreadable", "connection": connection})
            found = {}
        with self._lock:  # what this process saved and has not written yet is newer still
            found.update({stream: e for (c, stream), e in self._held.items() if c == connection})
        return found

    def save(self, connection: str, entries: Sequence[SchemaEntry]) -> None:
        with self._lock:
            for entry in entries:
                self._held[(connection, entry.stream)] = entry

    def flush_or_warn(self) -> None:
        """`flush`, a failure logged instead of raised (the engine's end of a sync: losing a cache
        entry costs the next sync a sample, never this sync its result)."""
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("could not save the learnt schemas to %s: %s (the next sync infers them again)",
                        self.where, exc, extra={"event": "schema_cache_lost"})

    def flush(self) -> int:
        """Write the held entries (the destination must be open); return how many."""
        with self._lock:
            held, self._held = self._held, {}
        if not held:
            return 0
        try:
            self._write(entry_rows(held))
        except BaseException:
            with self._lock:  # not written: keep them for a later flush, behind anything saved since
                self._held = {**held, **self._held}
            raise
        return len(held)


def destination_schema_store(destination: object) -> WarehouseSchemaStore | None:
    """The destination's store (its optional `schema_store()` method), or None when it keeps none."""
    make = getattr(destination, "schema_store", None)
    store = make() if callable(make) else None
    return store if isinstance(store, WarehouseSchemaStore) else None


def entry_rows(entries: dict[tuple[str, str], SchemaEntry], now: datetime | None = None) -> pa.Table:
    """`entries` keyed by (connection, stream) as `_rooftop.schemas` rows."""
    at = now or datetime.now(UTC)
    items = list(entries.items())
    return pa.Table.from_pydict({
        "connection": [c for (c, _), _ in items],
        "stream": [e.stream for _, e in items],
        "fingerprint": [e.fingerprint for _, e in items],
        "schema": [e.schema for _, e in items],
        "saved_at": [at] * len(items),
    }, schema=SCHEMAS.schema)


def newest_entries(rows: pa.Table) -> dict[str, SchemaEntry]:
    """Each stream's newest row of `rows` (a connection's `_rooftop.schemas`); a tie goes to the later row."""
    newest: dict[str, tuple[datetime, SchemaEntry]] = {}
    for row in rows.to_pylist():
        at = row["saved_at"]
        current = newest.get(row["stream"])
        if current is None or at >= current[0]:
            newest[row["stream"]] = (at, SchemaEntry(row["stream"], row["schema"], row["fingerprint"]))
    return {stream: entry for stream, (_, entry) in newest.items()}
