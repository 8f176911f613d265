"""Every Arrow type the engine produces lands with its value intact on every destination: edge
values (negative and wide decimals, dates before 2000, zoned timestamps, empty vs NULL text,
unicode, bytes), on each of Postgres' two COPY encodings (binary, and CSV for nested values)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from destinations.postgres.binary import encodable
from destinations.postgres.types import pg_type
from protocol.types import SyncMode, TableSpec
from tests.conformance.conftest import Warehouse

COLUMNS: list[tuple[str, pa.DataType, list[Any]]] = [
    ("id", pa.int64(), [1, 2, 3, 4]),
    ("small", pa.int8(), [-128, 127, None, 0]),
    ("u16", pa.uint16(), [0, 65535, None, 7]),
    ("f32", pa.float32(), [1.5, -0.25, None, 0.0]),
    ("f64", pa.float64(), [1e300, -2.5e-300, None, 3.0]),
    ("flag", pa.bool_(), [True, False, None, True]),
    ("money", pa.decimal128(12, 2), [Decimal("-1234567890.12"), Decimal("0.01"), None, Decimal("-0.50")]),
    ("tiny", pa.decimal128(2, 2), [Decimal("0.99"), Decimal("-0.01"), None, Decimal("0")]),
    ("wide", pa.decimal128(18, 15), [Decimal("123.456789012345678"), Decimal("-0.000000000000001"), None,
                                     Decimal("1")]),
    ("whole", pa.decimal128(10, 0), [Decimal("-9999999999"), Decimal("42"), None, Decimal("0")]),
    ("day", pa.date32(), [date(1999, 12, 31), date(2000, 1, 1), None, date(1970, 1, 1)]),
    ("at", pa.timestamp("us", tz="UTC"), [datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC),
                                          datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), None,
                                          datetime(2000, 1, 1, tzinfo=UTC)]),
    ("local", pa.timestamp("ms"), [datetime(2024, 1, 1, 8, 30), None, datetime(1990, 5, 5), datetime(2000, 1, 1)]),
    ("text", pa.string(), ["plain", "", None, 'quotes " and , commas\nnewline ünïcødé ✓']),
    ("big_text", pa.large_string(), ["x" * 5000, None, "", "y"]),
    ("raw", pa.binary(), [b"\x00\x01\xff", b"", None, b"abc"]),
]


HUGE = ("huge", pa.decimal128(30, 4), [Decimal("12345678901234567890123456.7891"), None, None, Decimal("-1.0001")])


def _batch(columns: list[tuple[str, pa.DataType, list[Any]]]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, t) for _, t, values in columns],
                           schema=pa.schema([(n, t) for n, t, _ in columns]))


def _same(got: Any, want: Any, name: str) -> bool:
    if want is None or got is None:
        return got is want
    if isinstance(want, float):
        return abs(float(got) - want) <= abs(want) * 1e-6
    if isinstance(want, Decimal):
        return Decimal(str(got)) == want
    if isinstance(want, datetime) and want.tzinfo is None and getattr(got, "tzinfo", None) is not None:
        return got.astimezone(UTC).replace(tzinfo=None) == want
    if isinstance(want, datetime):
        return got == want
    if isinstance(want, bytes):
        return bytes(got) == want
    return bool(got == want)


@pytest.mark.parametrize("mode", [SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.INCREMENTAL_DEDUPED])
@pytest.mark.parametrize("encoding", ["binary", "csv"])
def test_values_round_trip(warehouse: Warehouse, mode: SyncMode, encoding: str) -> None:
    # A numeric wider than 18 digits cannot go through Postgres' binary COPY encoder: with it in
    # the batch, the whole batch travels as CSV, so both encodings see every other value.
    columns = COLUMNS + ([HUGE] if encoding == "csv" else [])
    batch = _batch(columns)
    binary_ok = all(encodable(pg_type(f.type), f.type) for f in batch.schema)
    assert binary_ok == (encoding == "binary")
    spec = TableSpec(connection="c", stream="types", namespace="raw", table="types", schema=batch.schema,
                     sync_mode=mode, primary_key=("id",), cursor_field="id")
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "sync")
        writer.write(batch)
        assert writer.finish({"cursor": 4}) == 4
    stored = {r["id"]: r for r in warehouse.records("raw", "types") or []}
    wrong = [(name, i, stored[i + 1][name], values[i]) for name, _, values in columns
             for i in range(4) if not _same(stored[i + 1][name], values[i], name)]
    assert wrong == []


def test_nested_values_and_a_zone_other_than_utc(warehouse: Warehouse) -> None:
    schema = pa.schema([("id", pa.int64()), ("unit", pa.struct([("no", pa.int32()), ("tags", pa.list_(pa.string()))])),
                        ("at", pa.timestamp("us", tz="America/Chicago"))])
    chicago = timezone(timedelta(hours=-6))
    batch = pa.record_batch([pa.array([1, 2]),
                             pa.array([{"no": 4, "tags": ["a", "b"]}, None], schema.field("unit").type),
                             pa.array([datetime(2024, 1, 1, 6, tzinfo=chicago), None], schema.field("at").type)],
                            schema=schema)
    spec = TableSpec(connection="c", stream="nested", namespace="raw", table="nested", schema=schema,
                     sync_mode=SyncMode.FULL_REFRESH_APPEND)
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "sync")
        writer.write(batch)
        writer.finish(None)
    stored = {r["id"]: r for r in warehouse.records("raw", "nested") or []}
    unit = stored[1]["unit"]
    assert (unit["no"], list(unit["tags"])) == (4, ["a", "b"]) and stored[2]["unit"] is None
    assert stored[1]["at"] == datetime(2024, 1, 1, 12, tzinfo=UTC)
