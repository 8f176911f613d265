"""Row-level diffs of a deduplicated merge, for `_rooftop.diffs` (see `protocol.bookkeeping`).

The writer's merge already decides, per primary key, which stored row each incoming row replaces
(or loses to); `DiffRecorder` is handed both sides of every replacement, paired by the incoming
row's position in the merge (`ORDER`), so it never re-matches keys and agrees with the merge by
construction, NULL keys included. Per surviving incoming row r and the stored row t it replaced:

    no t           r a tombstone: nothing        else: inserted
    r a tombstone  t live: deleted               t already deleted: nothing
    t deleted      inserted (r brings the key back)
    otherwise      updated, with the columns (not `_rooftop*`) whose values differ, null-safe;
                   nothing if none do

The comparison is vectorised (Arrow compute; DuckDB's IS DISTINCT FROM for nested types, which
Arrow cannot compare). The rows are committed with the merge through `bookkeeping.DiffJournal`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from destinations.parquet.bookkeeping import DiffJournal
from destinations.parquet.layout import Manifest
from protocol.bookkeeping import DIFFS
from protocol.types import META_DELETED_AT, TableSpec

META_PREFIX = "_rooftop"
log = logging.getLogger(__name__)


class DiffRecorder:
    """Collects one merge's replaced and incoming rows, then stages their diff rows for its commit."""

    def __init__(self, spec: TableSpec, sync_id: str, schema: pa.Schema, order: str, journal: DiffJournal) -> None:
        self._spec = spec
        self._sync_id = sync_id
        self._schema = schema
        self._order = order
        self._journal = journal
        self._incoming: pa.Table | None = None
        self._replaced: list[pa.Table] = []

    def start(self) -> None:
        """A merge begins: forget what an earlier, failed one may have collected."""
        self._incoming = None
        self._replaced = []

    def incoming(self, rows: pa.Table) -> None:
        """The rows the merge writes (one per key, losers removed), with their `order` column."""
        self._incoming = rows

    def replaced(self, rows: pa.Table, orders: Sequence[int]) -> None:
        """Stored rows the merge drops, each with the `order` of the incoming row replacing it."""
        self._replaced.append(rows.append_column(self._order, pa.array(orders, pa.int64())))

    def stage(self, manifest: Manifest, directory: Path) -> str | None:
        """Write this merge's diffs as pending and name them in `manifest`; None if there are none."""
        incoming, replaced = self._incoming, self._replaced
        self.start()
        if incoming is None or incoming.num_rows == 0:
            return None
        rows = diff_rows(incoming, replaced, self._schema, self._spec, self._sync_id, self._order)
        if rows.num_rows == 0:
            return None
        return self._journal.stage(manifest, directory, self._spec.connection, self._spec.stream, rows)

    def publish(self, token: str) -> None:
        """Called once the manifest naming `token` is saved: the merge and its diffs are committed."""
        try:
            self._journal.publish(self._spec.connection, token)
        except OSError as exc:
            # Not a failed commit: readers already count the pending file, and the stream's next
            # `prepare` renames it (`DiffJournal.resolve`). Failing here would report committed data lost.
            log.warning("diffs of %s.%s stay pending until its next sync: %s", self._spec.connection,
                        self._spec.stream, exc)


def diff_rows(incoming: pa.Table, replaced: list[pa.Table], schema: pa.Schema, spec: TableSpec,
              sync_id: str, order: str) -> pa.Table:
    """The `_rooftop.diffs` rows of one merge (rules in the module docstring)."""
    new = _aligned(incoming, schema)
    old_rows = _first_per_order(pa.concat_tables(replaced) if replaced else None, schema, order)
    # For each incoming row, the index of the stored row it replaced (null: none).
    index = pc.index_in(incoming.column(order), value_set=old_rows.column(order))
    old = _aligned(old_rows.take(index), schema)
    present = pc.is_valid(index)
    n = new.num_rows
    if META_DELETED_AT in schema.names:
        tombstone = pc.is_valid(new.column(META_DELETED_AT))
        was_deleted = pc.and_(present, pc.is_valid(old.column(META_DELETED_AT)))
    else:
        tombstone = was_deleted = pa.repeat(False, n)
    alive = pc.invert(tombstone)
    inserted = pc.and_(alive, pc.or_(pc.invert(present), was_deleted))
    deleted = pc.and_(pc.and_(present, tombstone), pc.invert(was_deleted))
    compared = pc.and_(pc.and_(present, alive), pc.invert(was_deleted))
    # One `"name", ` piece per differing column, joined in table column order (json.dumps' spacing).
    pieces = [pc.if_else(pc.and_(compared, _differ(new.column(f.name), old.column(f.name))),
                         json.dumps(f.name) + ", ", "")
              for f in schema if not f.name.startswith(META_PREFIX)]
    changed = pc.binary_join_element_wise(*pieces, "") if pieces else pa.repeat("", n)
    updated = pc.and_(compared, pc.not_equal(changed, ""))
    change = pc.if_else(inserted, "inserted", pc.if_else(updated, "updated", pc.if_else(
        deleted, "deleted", pa.scalar(None, pa.string()))))
    fields = pc.if_else(updated, pc.binary_join_element_wise("[", pc.utf8_rtrim(changed, characters=", "), "]", ""),
                        "[]")
    keep = pc.is_valid(change)
    count = int(pc.sum(keep).as_py() or 0)
    keys = new.select(list(spec.primary_key)).filter(keep)

    def constant(value: Any, type_: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, type_), count)

    return pa.Table.from_arrays([
        constant(spec.connection, pa.string()), constant(spec.stream, pa.string()), constant(sync_id, pa.string()),
        constant(datetime.now(UTC), DIFFS.schema.field("recorded_at").type),
        change.filter(keep), key_json(keys), fields.filter(keep),
    ], schema=DIFFS.schema)


def key_json(keys: pa.Table) -> pa.Array:
    """Each row's primary key as a JSON object text, e.g. `{"id": 2}` (numbers stay numbers)."""
    if keys.num_rows == 0:
        return pa.array([], pa.string())
    parts: list[Any] = ["{"]
    for i, name in enumerate(keys.column_names):
        parts += [(", " if i else "") + json.dumps(name) + ": ", _json_values(keys.column(name))]
    return pc.binary_join_element_wise(*parts, "}", "")


def _json_values(column: pa.ChunkedArray) -> pa.Array:
    """JSON text of each value, never null (Arrow's element-wise join mishandles all-null inputs)."""
    values = column.combine_chunks()
    t = values.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.fill_null(pc.cast(values, pa.string()), "null")
    if (pa.types.is_string(t) or pa.types.is_large_string(t)) and not pc.any(
            pc.match_substring_regex(values, r"[\x00-\x1f]")).as_py():
        escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
        return pc.fill_null(pc.binary_join_element_wise('"', pc.cast(escaped, pa.string()), '"', ""), "null")
    # Rare key types (dates, decimals, floats, text with control characters): per value.
    return pa.array([json.dumps(v, default=_json_default, ensure_ascii=False) for v in values.to_pylist()],
                    pa.string())


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _differ(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.Array:
    """Null-safe `a != b` per row: null vs null equal, null vs value differ (NaN vs NaN equal)."""
    a, b = a.combine_chunks(), b.combine_chunks()
    a_valid, b_valid = pc.is_valid(a), pc.is_valid(b)
    try:
        unequal = pc.not_equal(a, b)
    except pa.ArrowNotImplementedError:
        return _differ_nested(a, b)
    if pa.types.is_floating(a.type):
        unequal = pc.and_(unequal, pc.invert(pc.and_(pc.is_nan(a), pc.is_nan(b))))
    return pc.if_else(pc.and_(a_valid, b_valid), unequal, pc.xor(a_valid, b_valid))


def _differ_nested(a: pa.Array, b: pa.Array) -> pa.Array:
    """Structs, lists and maps, which Arrow's comparison kernels do not take."""
    with duckdb.connect() as con:
        con.register("pair", pa.table({"a": a, "b": b}))
        result = con.sql("SELECT a IS DISTINCT FROM b AS d FROM pair").to_arrow_table()
    return result.column("d").combine_chunks()


def _aligned(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` cast to the table's types (the incoming side went through DuckDB, which may widen)."""
    return pa.Table.from_arrays(
        [pc.cast(rows.column(f.name), f.type) if f.name in rows.column_names else pa.nulls(len(rows), f.type)
         for f in schema], schema=schema)


def _first_per_order(rows: pa.Table | None, schema: pa.Schema, order: str) -> pa.Table:
    """One replaced row per incoming row (a table with duplicate keys may hold several)."""
    if rows is None or rows.num_rows == 0:
        return pa.Table.from_arrays([pa.array([], f.type) for f in schema] + [pa.array([], pa.int64())],
                                    names=[*schema.names, order])
    position = "_rooftop_position"
    numbered = rows.append_column(position, pa.array(range(rows.num_rows), pa.int64()))
    first = numbered.group_by(order, use_threads=False).aggregate([(position, "min")])
    return rows.take(first.column(f"{position}_min"))
