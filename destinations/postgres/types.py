"""Arrow ↔ PostgreSQL types, and Arrow batches as COPY's CSV input.

Both directions live here so they stay each other's inverse: a table created from an Arrow schema
and described again (`describe_table`) gives back the same Arrow types, which is what lets the
engine tell a real source schema change from a naming difference.

COPY input is CSV written by Arrow's C++ CSV writer (vectorised, no Python object per value): an
unquoted empty field is NULL, a quoted one an empty string, exactly PostgreSQL's CSV rules. The few
types Arrow cannot write as PostgreSQL reads them (nested values, binary, durations) are turned
into text first, column by column.
"""

from __future__ import annotations

import io
import re

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192)
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type."""
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_uint64(t):
        return "numeric(20,0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if pa.types.is_time(t):
        return "time without time zone"
    if pa.types.is_duration(t):
        return "interval"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if is_nested(t):
        return "jsonb"
    return "text"  # strings, and a column no record has filled yet (Arrow `null`)


def arrow_type(pg: str) -> pa.DataType:
    """The Arrow type of a column as `format_type()` names it (the inverse of `pg_type`)."""
    match = _NUMERIC.match(pg)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    simple = {
        "boolean": pa.bool_(), "smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64(),
        "real": pa.float32(), "double precision": pa.float64(), "date": pa.date32(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
        "time without time zone": pa.time64("us"), "interval": pa.duration("us"), "bytea": pa.binary(),
    }
    # text, varchar, jsonb (nested values are stored as JSON text), uuid and the rest: strings.
    return simple.get(pg, pa.string())


def is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t)
                or pa.types.is_fixed_size_list(t) or pa.types.is_map(t))


def _as_text(column: pa.Array) -> pa.Array:
    """Text PostgreSQL's input functions read, for the types Arrow's CSV writer cannot write so."""
    t = column.type
    if pa.types.is_dictionary(t):
        return _as_text(column.dictionary_decode())
    if is_nested(t):
        return pa.array([None if v is None else orjson.dumps(v, default=str).decode()
                         for v in column.to_pylist()], pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array([None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string())
    if pa.types.is_duration(t):
        micros = pc.cast(column, pa.duration("us")).cast(pa.int64())
        return pc.binary_join_element_wise(pc.cast(micros, pa.string()), pa.scalar(" microseconds"), "")
    return column


def _naive_utc(column: pa.Array) -> pa.Array:
    """A zoned timestamp as its UTC wall-clock time (same values, zone dropped): Arrow's CSV
    writer formats zoned timestamps ~25x slower, and the session's TimeZone is UTC, so PostgreSQL
    reads the text back as the same instant."""
    return column.cast(pa.timestamp(column.type.unit))


def _needs_text(t: pa.DataType) -> bool:
    return (pa.types.is_dictionary(t) or is_nested(t) or pa.types.is_duration(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def csv_bytes(batch: pa.RecordBatch, columns: list[str]) -> bytes:
    """`columns` of `batch` (in that order) as COPY ... (FORMAT csv) input."""
    arrays = []
    for name in columns:
        column = batch.column(name)
        if _needs_text(column.type):
            column = _as_text(column)
        elif pa.types.is_timestamp(column.type) and column.type.tz:
            column = _naive_utc(column)
        arrays.append(column)
    out = io.BytesIO()
    pacsv.write_csv(pa.RecordBatch.from_arrays(arrays, names=columns), out, _CSV_OPTIONS)
    return out.getvalue()
