"""Turn a source's raw record batch into the batch its table expects.

Per batch, vectorised with pyarrow.compute: select the planned columns, cast each to its catalog
type, apply privacy rules (`pipelines.engine.privacy`: hash, mask) and enum maps, and add the meta
columns. A value that cannot be cast does not fail the sync:
it becomes null and is described in that row's `_rooftop_meta` JSON (a data error, counted). Only a
column whose vectorised cast fails is looked at value by value, so clean data stays on the fast path.

The same goes for a value that casts but that the destination cannot store (its `storage_limits`,
`protocol.bookkeeping.StorageLimits`: NUL in Postgres text or JSON, a date outside years 1-9999) and for a
float that a narrower column would turn into infinity: vectorised checks find them, and only the
offending rows are looked at one by one, to describe them. Writers never see such a value, so one
of them cannot fail a stream at every sync forever.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.engine.plan import StreamPlan
from protocol.bookkeeping import DEFAULT_STORAGE_LIMITS, StorageLimits
from protocol.types import META_DELETED_AT, META_EXTRACTED_AT, META_META, META_SYNC_ID

CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
MAX_VALUE_CHARS = 200

RowErrors = dict[int, list[dict[str, Any]]]


class BatchTransformer:
    """Applies one stream's plan to every batch of one sync."""

    def __init__(self, plan: StreamPlan, sync_id: str, limits: StorageLimits | None = None) -> None:
        self.plan = plan
        self.limits = limits or DEFAULT_STORAGE_LIMITS
        self.sync_id = sync_id
        self.table_schema = plan.table.schema
        self._enum_tables = {
            name: (pa.array(list(m.values.keys()), pa.string()), pa.array(list(m.values.values()), pa.string()))
            for name, m in plan.enum_maps.items()
        }

    def apply(self, batch: pa.RecordBatch, extracted_at: datetime) -> tuple[pa.RecordBatch, int]:
        """The transformed batch and the number of values that were nulled (data errors)."""
        n = batch.num_rows
        errors: RowErrors = defaultdict(list)
        columns: dict[str, pa.Array] = {}
        privacy = self.plan.privacy
        for target in self.plan.source_schema:
            index = batch.schema.get_field_index(target.name)
            raw = batch.column(index) if index >= 0 else pa.nulls(n, target.type)
            if privacy is None or target.name not in privacy.actions:
                columns[target.name] = coerce(raw, target.type, target.name, errors)
                continue
            # Cast first (the canonical typed value is what gets hashed), then protect; the raw
            # value of a failed cast is described only by its protected form.
            own: RowErrors = defaultdict(list)
            columns[target.name] = privacy.column(target.name, coerce(raw, target.type, target.name, own))
            privacy.protect_errors(target.name, own, errors)
        deleted = None
        if self.plan.tracks_deletes:
            deleted_field = self.plan.stream.deleted_field
            assert deleted_field is not None
            index = batch.schema.get_field_index(deleted_field)
            if index >= 0:
                deleted = coerce(batch.column(index), pa.timestamp("us", tz="UTC"), deleted_field, errors)
        for name, enum_map in self.plan.enum_maps.items():
            mapped = self._map_enum(name, columns[name], enum_map.default, errors)
            columns[enum_map.to or name] = mapped
        for name, column in columns.items():
            columns[name] = storable(column, self.limits, name, errors)
        error_count = sum(len(v) for v in errors.values())
        columns[META_EXTRACTED_AT] = pa.repeat(pa.scalar(extracted_at, pa.timestamp("us", tz="UTC")), n)
        columns[META_SYNC_ID] = pa.repeat(pa.scalar(self.sync_id, pa.string()), n)
        columns[META_META] = _meta_column(errors, n)
        if META_DELETED_AT in self.table_schema.names:
            columns[META_DELETED_AT] = deleted if deleted is not None else pa.nulls(n, pa.timestamp("us", tz="UTC"))
        arrays = [columns[f.name] for f in self.table_schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.table_schema), error_count

    def _map_enum(self, name: str, values: pa.Array, default: str | None, errors: RowErrors) -> pa.Array:
        keys, mapped = self._enum_tables[name]
        as_text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
        positions = pc.index_in(as_text, value_set=keys)
        result = pc.take(mapped, positions)
        unmapped = pc.and_(pc.is_null(positions), pc.is_valid(as_text))
        if not pc.any(unmapped).as_py():
            return result
        if default is not None:
            return pc.if_else(unmapped, pa.scalar(default, pa.string()), result)
        for row in pc.indices_nonzero(unmapped).to_pylist():
            errors[row].append({"field": name, "value": _short(as_text[row].as_py()),
                                "error": "value not in enum map and no default"})
        return result


def coerce(raw: pa.Array, target: pa.DataType, name: str, errors: RowErrors) -> pa.Array:
    """Cast `raw` to `target`; values that do not fit become null and are recorded in `errors`."""
    if raw.type == target:
        return raw
    try:
        cast = pc.cast(raw, target, safe=True)
    except CAST_ERRORS:
        cast = _cast_each(raw, target, name, errors)
    if pa.types.is_floating(target) and target.bit_width < 64 and cast.null_count < len(cast):
        # Arrow's safe cast narrows 1e300 to float32 infinity without a word.
        overflowed = pc.and_(pc.is_inf(cast), pc.invert(_infinite(raw)))
        cast = null_rows(cast, overflowed, name, f"out of range for {target}", errors, shown=raw)
    return cast


def _infinite(raw: pa.Array) -> pa.Array:
    """Per value: was it infinite already (so a narrower float keeps it rightly infinite)?"""
    if pa.types.is_floating(raw.type):
        return pc.is_inf(raw)
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        return pc.match_substring_regex(raw, r"^\s*[+-]?inf", ignore_case=True)
    return pa.repeat(pa.scalar(False), len(raw))


def _cast_each(raw: pa.Array, target: pa.DataType, name: str, errors: RowErrors) -> pa.Array:
    """The slow path, for a column whose vectorised cast failed: halves are cast again, vectorised,
    until the parts that fail are small; only those go value by value, recording misfits. A batch
    gathers many pages (`pipelines.engine.batching`), so one bad value must not cost a Python
    round trip for each of its ~20,000 rows."""
    parts: list[pa.Array] = []
    _cast_parts(raw, 0, target, name, errors, parts)
    return pa.concat_arrays(parts) if len(parts) > 1 else parts[0]


_VALUE_BY_VALUE = 64
"""At or below this many values a failing part is cast one value at a time."""


def _cast_parts(raw: pa.Array, offset: int, target: pa.DataType, name: str, errors: RowErrors,
                parts: list[pa.Array]) -> None:
    """Append `raw` cast to `target` to `parts`; `offset`: the row of its first value in the batch."""
    if len(raw) > _VALUE_BY_VALUE:
        half = len(raw) // 2
        for start, part in ((0, raw.slice(0, half)), (half, raw.slice(half))):
            try:
                parts.append(pc.cast(part, target, safe=True))
            except CAST_ERRORS:
                _cast_parts(part, offset + start, target, name, errors, parts)
        return
    out: list[Any] = []
    for row, value in enumerate(raw, start=offset):
        if not value.is_valid:
            out.append(None)
            continue
        try:
            out.append(pc.cast(pa.array([value.as_py()], raw.type), target, safe=True)[0].as_py())
        except CAST_ERRORS as exc:
            out.append(None)
            errors[row].append({"field": name, "value": _short(value.as_py()),
                                "error": f"cannot cast to {target}: {str(exc).splitlines()[0][:120]}"})
    parts.append(pa.array(out, type=target))


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, bytes | dict | list):
        return _short(orjson.dumps(value, default=str).decode())
    return value


def _meta_column(errors: RowErrors, n: int) -> pa.Array:
    if not errors:
        return pa.nulls(n, pa.string())
    values: list[str | None] = [None] * n
    for row, row_errors in errors.items():
        values[row] = orjson.dumps({"errors": row_errors}, default=str).decode()
    return pa.array(values, pa.string())


def storable(column: pa.Array, limits: StorageLimits, name: str, errors: RowErrors) -> pa.Array:
    """`column` with every value outside the destination's `limits` nulled and recorded."""
    t = column.type
    if not column.null_count < len(column):
        return column
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        low, high = _time_bounds(t, limits)
        # One min/max pass (in the type's own ticks) clears a whole column in the usual case: one
        # compute call per time column of every page instead of six.
        extremes = pc.min_max(column)
        if low <= extremes["min"].value and extremes["max"].value < high:
            return column
        ticks = column.cast(pa.int32() if pa.types.is_date32(t) else pa.int64())
        outside = pc.or_(pc.less(ticks, low), pc.greater_equal(ticks, high))
        reason = f"outside the years {limits.min_year}-{limits.max_year} the destination can store"
        # As text: Python's datetime cannot hold these values either.
        return null_rows(column, outside, name, reason, errors, shown=column, as_text=True)
    if not limits.nul_in_text and (pa.types.is_string(t) or pa.types.is_large_string(t) or is_nested(t)):
        return null_rows(column, _holds_nul(column), name, "text holds U+0000, which the destination cannot store",
                         errors, shown=column)
    return column


def null_rows(column: pa.Array, bad: pa.Array, name: str, reason: str, errors: RowErrors,
              shown: pa.Array, as_text: bool = False) -> pa.Array:
    """`column` with the rows where `bad` is true nulled, each recorded with its value in `shown`
    (only those rows are converted: the check itself stays vectorised)."""
    bad = bad.fill_null(False)
    if not pc.any(bad).as_py():
        return column
    rows = pc.indices_nonzero(bad)
    values = shown.take(rows)
    if as_text:
        values = pc.cast(values, pa.string())
    for row, value in zip(rows.to_pylist(), values.to_pylist(), strict=True):
        errors[row].append({"field": name, "value": _short(value), "error": reason})
    return pc.if_else(bad, pa.scalar(None, column.type), column)


_EPOCH = datetime(1970, 1, 1)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_INT64 = (-(2**63), 2**63 - 1)


@functools.lru_cache(maxsize=64)  # per time column of every page otherwise
def _time_bounds(t: pa.DataType, limits: StorageLimits) -> tuple[int, int]:
    """[low, high) of the storable years in the type's own ticks (days, or its time unit)."""
    first = datetime(limits.min_year, 1, 1) - _EPOCH
    end = (datetime(limits.max_year, 12, 31) - _EPOCH) + (datetime(1970, 1, 2) - _EPOCH)
    if pa.types.is_date32(t):
        return first.days, end.days
    per_second = 1_000 if pa.types.is_date64(t) else _PER_SECOND[t.unit]
    low, high = (int(d.total_seconds()) * per_second for d in (first, end))
    return max(low, _INT64[0]), min(high, _INT64[1])


def is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t))


def _holds_nul(column: pa.Array) -> pa.Array:
    """Per row: does the value hold U+0000 anywhere (strings inside structs and lists too)?"""
    t = column.type
    n = len(column)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.match_substring(column, "\x00").fill_null(False)
    if pa.types.is_struct(t):
        found = pa.repeat(pa.scalar(False), n)
        for i in range(t.num_fields):
            found = pc.or_(found, _holds_nul(pc.struct_field(column, [i])))
        return pc.and_(found, pc.is_valid(column))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _holds_nul(pc.list_flatten(column))
        parents = pc.filter(pc.list_parent_indices(column), inner)
        return pc.is_in(pa.array(range(n), pa.int64()), value_set=pc.cast(parents, pa.int64()))
    return pa.repeat(pa.scalar(False), n)
