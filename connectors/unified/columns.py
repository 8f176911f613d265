"""One native record batch → one unified batch, as a `TableMapping` declares it.

Vectorised with pyarrow.compute wherever the data allows: dot paths into structs, ids and foreign
keys prefixed in one call, dates cut from datetimes, naive timestamps placed in their zone, default
enum maps as one lookup. Two things go value by value because Arrow has no kernel for them: a path
that descends into JSON text or into lists shorter than its index, and `vendor_fields`, one JSON
document per row. The output keeps raw (JSON-native) types; the engine casts it to the unified
schema like any source's batch, so a value that does not fit is nulled and recorded, never fatal.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from protocol.unified import (
    GENERATED,
    UNIFIED_TABLES,
    Date,
    EnumDefault,
    Ref,
    TableMapping,
    Timestamp,
    column_path,
    normalized_column,
    unified_id,
)

DELETED_COLUMN = "deleted_at"
"""Where a native tombstone field travels in a unified batch (the catalog's `deleted_field`)."""


def root(path: str) -> str:
    return path.split(".", 1)[0]


class TableTransform:
    """Applies one table's mapping to every batch of one read."""

    def __init__(self, table: str, mapping: TableMapping, source_system: str, connection: str,
                 deleted_field: str | None) -> None:
        self.schema = UNIFIED_TABLES[table]
        self.mapping = mapping
        self.source_system = source_system
        self.prefix = unified_id(source_system, connection, "")
        self.deleted_field = deleted_field
        paths = [mapping.id, *(column_path(c) for c in mapping.columns.values())]
        # A field read whole is not repeated in vendor_fields; one read only in part (Address.City)
        # stays there entire, so nothing the vendor sent is lost.
        self.read_whole = {p for p in paths if "." not in p} | ({deleted_field} if deleted_field else set())
        self._enums = {name: _lookup(enum) for name, enum in mapping.enums.items()}

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        source_id = as_text(extract(batch, self.mapping.id))
        columns: dict[str, pa.Array] = {
            "id": self._prefixed(source_id),
            "source_system": pa.repeat(pa.scalar(self.source_system, pa.string()), n),
            "source_id": source_id,
        }
        for target in self.schema:
            if target.name in GENERATED:
                continue
            spec = self.mapping.columns.get(target.name)
            columns[target.name] = pa.nulls(n, target.type) if spec is None else self._column(batch, spec)
        for name, (keys, values, default) in self._enums.items():
            columns[normalized_column(name)] = _map_enum(as_text(columns[name]), keys, values, default)
        columns["vendor_fields"] = self._vendor_fields(batch)
        names = [f.name for f in self.schema]
        arrays = [columns[name] for name in names]
        if self.deleted_field is not None:
            names.append(DELETED_COLUMN)
            arrays.append(extract(batch, self.deleted_field))
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _column(self, batch: pa.RecordBatch, spec: Any) -> pa.Array:
        values = extract(batch, column_path(spec))
        if isinstance(spec, Ref):
            return self._prefixed(as_text(values))
        if isinstance(spec, Date) and pa.types.is_string(values.type):
            return pc.utf8_slice_codeunits(values, 0, 10)
        if isinstance(spec, Timestamp) and pa.types.is_string(values.type):
            return _in_zone(values, spec.zone)
        return values

    def _prefixed(self, ids: pa.Array) -> pa.Array:
        prefix = pa.repeat(pa.scalar(self.prefix, pa.string()), len(ids))
        return pc.binary_join_element_wise(prefix, ids, "")

    def _vendor_fields(self, batch: pa.RecordBatch) -> pa.Array:
        rest = [name for name in batch.schema.names if name not in self.read_whole]
        if not rest:
            return pa.nulls(batch.num_rows, pa.string())
        rows = batch.select(rest).to_pylist()
        return pa.array([orjson.dumps({k: v for k, v in row.items() if v is not None}, default=str).decode()
                         for row in rows], pa.string())


def extract(batch: pa.RecordBatch, path: str) -> pa.Array:
    """The values at dot path `path` of every record (null where a record lacks it)."""
    head, *rest = path.split(".")
    index = batch.schema.get_field_index(head)
    if index < 0:
        return pa.nulls(batch.num_rows, pa.string())
    column = batch.column(index)
    for depth, part in enumerate(rest):
        step = _arrow_step(column, part)
        if step is None:
            return _python_path(column, rest[depth:])
        column = step
    return column


def _arrow_step(column: pa.Array, part: str) -> pa.Array | None:
    kind = column.type
    if pa.types.is_struct(kind):
        if kind.get_field_index(part) < 0:
            return pa.nulls(len(column), pa.string())
        return pc.struct_field(column, part)
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and part.isdigit():
        lengths = pc.list_value_length(column)
        if pc.any(pc.less_equal(lengths, int(part))).as_py():
            return None  # a list too short for the index: Arrow would fail, Python gives null
        return pc.list_element(column, int(part))
    return None


def _python_path(column: pa.Array, parts: list[str]) -> pa.Array:
    """The slow path: descend into JSON text and short lists value by value."""
    out: list[Any] = []
    for value in column.to_pylist():
        for part in parts:
            if isinstance(value, str):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError:
                    value = None
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit():
                value = value[int(part)] if int(part) < len(value) else None
            else:
                value = None
        out.append(value if not isinstance(value, dict | list) else orjson.dumps(value).decode())
    try:
        return pa.array(out)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in out], pa.string())


def as_text(values: pa.Array) -> pa.Array:
    """Ids as text: 17 and 17.0 (JSON does not tell them apart) both become "17"."""
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_null(values.type):
        return values.cast(pa.string())
    if pa.types.is_floating(values.type):
        with contextlib.suppress(pa.ArrowInvalid):
            values = pc.cast(values, pa.int64(), safe=True)
    return pc.cast(values, pa.string())


def _in_zone(values: pa.Array, zone: str) -> pa.Array:
    """Text timestamps as UTC: those with an offset as written, naive ones as wall-clock time in `zone`."""
    try:
        return pc.cast(values, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        naive = pc.cast(values, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return values  # mixed or odd formats: the engine's cast nulls and records the misfits
    return pc.assume_timezone(naive, zone, ambiguous="earliest", nonexistent="earliest")


def _lookup(enum: EnumDefault) -> tuple[pa.Array, pa.Array, str]:
    return (pa.array(list(enum.values), pa.string()), pa.array(list(enum.values.values()), pa.string()),
            enum.default)


def _map_enum(values: pa.Array, keys: pa.Array, mapped: pa.Array, default: str) -> pa.Array:
    """Vendor values → normalized ones; an unlisted value gets `default`, a null stays null."""
    result = pc.take(mapped, pc.index_in(values, value_set=keys))
    return pc.if_else(pc.and_(pc.is_null(result), pc.is_valid(values)), pa.scalar(default, pa.string()), result)
