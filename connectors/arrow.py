"""JSON records to Arrow: the one place HTTP sources turn parsed JSON into a RecordBatch.

Sources do not cast to the catalog's types themselves: they build a batch of JSON-native "raw"
types (timestamps and dates stay strings, money stays a float) and the engine casts whole columns,
vectorised, recording any value that does not fit. So this conversion must never fail on one bad
value: a column whose values do not all fit its raw type is built again as strings instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
import pyarrow as pa

_BUILD_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)


def raw_type(target: pa.DataType) -> pa.DataType:
    """The JSON-native type a value of `target` arrives as."""
    if pa.types.is_integer(target):
        return pa.int64()
    if pa.types.is_floating(target) or pa.types.is_decimal(target):
        return pa.float64()
    if pa.types.is_boolean(target):
        return pa.bool_()
    if pa.types.is_struct(target):
        return pa.struct([pa.field(f.name, raw_type(f.type)) for f in target])
    if pa.types.is_list(target) or pa.types.is_large_list(target):
        return pa.list_(raw_type(target.value_type))
    # strings, dates, timestamps and anything else travel as text
    return pa.string()


@lru_cache(maxsize=256)
def raw_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every field's type replaced by its raw type (cached: one per stream)."""
    return pa.schema([pa.field(f.name, raw_type(f.type)) for f in schema])


@lru_cache(maxsize=256)
def _integer_fields(schema: pa.Schema) -> tuple[str, ...]:
    return tuple(f.name for f in schema if pa.types.is_integer(f.type))


def _has_fraction(values: Iterable[Any]) -> bool:
    """True if a value is a float with a fractional part.

    pyarrow silently truncates 1.5 to 1 when building an int64 array from Python floats, so such a
    column must not take the fast path (2.0 is fine: JSON does not distinguish it from 2).
    """
    return any(type(v) is float and not v.is_integer() for v in values)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if type(value) is float and value.is_integer():
        return str(int(value))  # "2", not "2.0", so that an integer column can still cast it
    if type(value) is int:
        return str(value)  # orjson refuses integers beyond 64 bits
    return orjson.dumps(value, default=str).decode()


def _column(values: Sequence[Any], raw: pa.DataType) -> pa.Array:
    if pa.types.is_integer(raw) and _has_fraction(values):
        return pa.array([_as_text(v) for v in values], type=pa.string())
    try:
        return pa.array(values, type=raw)
    except _BUILD_ERRORS:
        # A value of the wrong JSON type: keep the column, as text, for the engine to null and record.
        return pa.array([_as_text(v) for v in values], type=pa.string())


def records_to_batch(records: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """A batch with `schema`'s columns in order, in raw types; missing keys are null, extra keys ignored."""
    target = raw_schema(schema)
    if not any(_has_fraction(r.get(name) for r in records) for name in _integer_fields(schema)):
        try:
            return pa.RecordBatch.from_pylist(records, schema=target)
        except _BUILD_ERRORS:
            pass  # some value does not fit its column: rebuild column by column below
    columns = [_column([r.get(f.name) for r in records], f.type) for f in target]
    fields = [pa.field(f.name, c.type) for f, c in zip(target, columns, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))
