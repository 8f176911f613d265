"""Compare warehouse tables with the sandbox's own records, independently of the engine's code.

Source records are JSON-native (strings for dates, floats for money); each is converted here with
plain Python (Decimal, date.fromisoformat) into what DuckDB should return, so a bug in the engine's
coercion cannot hide itself in the expectation.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

LEASE_COLUMNS = ("id", "unit_id", "resident_id", "status", "rent", "start_date", "end_date", "updated_at")
KINDS = {"id": int, "unit_id": int, "resident_id": int, "status": str, "rent": "money",
         "start_date": "date", "end_date": "date", "updated_at": "ts"}


def canonical(record: dict[str, Any], columns: tuple[str, ...] = LEASE_COLUMNS) -> tuple[Any, ...]:
    out: list[Any] = []
    for column in columns:
        value = record.get(column)
        kind = KINDS.get(column)
        if value is None:
            out.append(None)
        elif kind == "money":
            out.append(Decimal(str(value)).quantize(Decimal("0.01")))
        elif kind == "date":
            out.append(date.fromisoformat(value))
        elif kind == "ts":
            out.append(datetime.fromisoformat(value))
        else:
            out.append(value)
    return tuple(out)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def table_rows(db: Path, table: str, columns: tuple[str, ...] = LEASE_COLUMNS, where: str = "true") -> Counter:
    return Counter(rows(db, f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"))


def expected(records: Any, columns: tuple[str, ...] = LEASE_COLUMNS) -> Counter:
    return Counter(canonical(r, columns) for r in records)
