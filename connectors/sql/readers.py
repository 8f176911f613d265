"""Reading one table into Arrow batches: PostgreSQL's fast paths and the general path.

Both yield batches in cursor order (when there is a cursor), so a checkpoint after every batch is
safe: everything up to its highest cursor value has been read, and the next sync resumes at `>=`
that value.

- PostgreSQL, `adbc` (default): the ADBC driver reads the query with binary COPY straight into
  Arrow batches in C++: no Python at all per row.
- PostgreSQL, `copy`: psycopg's `COPY (SELECT …) TO STDOUT (FORMAT csv)` parsed by Arrow's C++ CSV
  reader as it streams in (psycopg hands over one row per call: slower than ADBC, no extra driver).
  On both paths decimals arrive as text for the engine's cast, which records values that do not
  fit (a NaN numeric) instead of failing the read.
- Every other database: SQLAlchemy with a server-side cursor (`stream_results`) fetching
  `batch_size` rows at a time, turned into columns with one `pa.array` call per column.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_BUILD_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)
_BLOCK_BYTES = 8 << 20


class CopyStream(io.RawIOBase):
    """The byte stream of a psycopg `Copy` (one row per chunk) as a file for Arrow's reader."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._pending = bytearray()
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Arrow asks for whole blocks; gathering rows until the block is full keeps its reads few.
        while not self._done and (size < 0 or len(self._pending) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._pending += chunk
        if size < 0 or size >= len(self._pending):
            out, self._pending = bytes(self._pending), bytearray()
        else:
            out = bytes(self._pending[:size])
            del self._pending[:size]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_adbc(uri: str, query: str, schema: pa.Schema, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Stream `query` through the ADBC PostgreSQL driver (imported here: only this path needs it)."""
    import adbc_driver_postgresql.dbapi as adbc

    names = schema.names
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(query)
        for batch in cur.fetch_record_batch():
            # Positional names: the driver labels expressions like `x::text` by the column anyway,
            # but the catalog's names are the contract.
            batch = pa.RecordBatch.from_arrays(batch.columns, names=names)
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def csv_read_type(t: pa.DataType) -> pa.DataType:
    """The type Arrow's CSV reader parses a column as (text where PostgreSQL's output format and
    Arrow's parser disagree, converted afterwards)."""
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_date(t)
            or pa.types.is_timestamp(t) or pa.types.is_time(t)):
        return t
    return pa.string()


def read_postgres_csv(stream: io.RawIOBase, schema: pa.Schema, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Parse COPY's CSV output (NULL = unquoted empty, '' = quoted empty) into batches."""
    read_types = {f.name: csv_read_type(f.type) for f in schema}
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=_BLOCK_BYTES, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=read_types, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]),
    )
    binary = [f.name for f in schema if pa.types.is_binary(f.type)]
    for batch in reader:
        if binary:
            batch = _decode_bytea(batch, binary)
        for start in range(0, batch.num_rows, batch_size):
            yield batch.slice(start, batch_size)


def _decode_bytea(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    columns = []
    for name in batch.schema.names:
        column = batch.column(name)
        if name in names:
            column = pa.array([None if v is None else bytes.fromhex(v[2:]) for v in column.to_pylist()],
                              pa.binary())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def rows_to_batch(rows: Sequence[Any], schema: pa.Schema, json_columns: set[str]) -> pa.RecordBatch:
    """Rows (tuples, in `schema` order) as one batch, built column by column.

    A column whose values do not all fit the catalog type (a NaN numeric, a text value in a
    SQLite integer column) is built as text instead, for the engine to cast value by value and
    record what does not fit; one odd value never fails the read.
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    fields = []
    for f, values in zip(schema, columns, strict=True):
        if f.name in json_columns:
            values = tuple(None if v is None else orjson.dumps(v, default=str).decode() for v in values)
        try:
            array = pa.array(values, type=f.type)
        except _BUILD_ERRORS:
            array = pa.array([None if v is None else str(v) for v in values], pa.string())
        arrays.append(array)
        fields.append(pa.field(f.name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def highest(batch: pa.RecordBatch, cursor: str) -> Any:
    """The batch's greatest cursor value (batches arrive in cursor order; nulls ignored)."""
    column = batch.column(cursor)
    if column.null_count == len(column):
        return None
    return pc.max(column).as_py()
