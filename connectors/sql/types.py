"""Database column types (as SQLAlchemy reflects them) → Arrow types, and cursor values ↔ JSON.

The mapping follows SQLAlchemy's generic type hierarchy, so it holds for every dialect SQLAlchemy
reflects (PostgreSQL, SQLite, MySQL, DuckDB, …); anything it does not know (custom types, a SQLite
column without a declared type) is read as text, which never loses a value. Documented choices:
an unconstrained `numeric` becomes decimal(38, 9) (a value with more decimals is recorded and
nulled, not rounded), JSON and arrays arrive as JSON text, intervals as text.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

UNCONSTRAINED_NUMERIC = pa.decimal128(38, 9)


def arrow_type(sql_type: TypeEngine[Any], dialect: str) -> pa.DataType:
    """The Arrow type a column of `sql_type` is read as."""
    t = sql_type
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.SmallInteger):
        return pa.int16()
    if isinstance(t, sa.BigInteger):
        return pa.int64()
    if isinstance(t, sa.Integer):
        # SQLite's INTEGER is 64-bit; elsewhere INTEGER is 32-bit.
        return pa.int64() if dialect == "sqlite" else pa.int32()
    if isinstance(t, sa.Float):
        precision = getattr(t, "precision", None)
        return pa.float32() if precision is not None and precision <= 24 else pa.float64()
    if isinstance(t, sa.Numeric):
        if t.precision is not None and 0 < t.precision <= 38:
            return pa.decimal128(t.precision, t.scale or 0)
        return UNCONSTRAINED_NUMERIC
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC") if t.timezone else pa.timestamp("us")
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Time):
        return pa.time64("us")
    if isinstance(t, sa.LargeBinary) or type(t).__name__.upper() in ("BYTEA", "BLOB", "VARBINARY", "BINARY"):
        return pa.binary()
    return pa.string()  # text, varchar, enum, uuid, json, arrays, intervals and unknown types


def is_json_like(sql_type: TypeEngine[Any]) -> bool:
    """Types read as JSON text (their Python values are dicts or lists)."""
    return isinstance(sql_type, sa.JSON | sa.ARRAY)


def to_json(value: Any) -> Any:
    """A cursor value as it is kept in state (JSON): exact text for times and decimals."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def from_json(value: Any, arrow: pa.DataType) -> Any:
    """A saved cursor back as the Python value the driver binds for a column of type `arrow`."""
    if value is None or isinstance(value, bool):
        return value
    if pa.types.is_binary(arrow):
        return base64.b64decode(value)
    if pa.types.is_string(arrow):
        return str(value)
    return pa.array([value]).cast(arrow)[0].as_py()
