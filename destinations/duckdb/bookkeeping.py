"""Rooftop's generic `_rooftop` tables (sync logs, properties, diffs; see `protocol.bookkeeping`) in DuckDB.

The engine and the CLI read and write them through `append_bookkeeping` / `read_bookkeeping` / `prune_history`;
`DuckDBDestination` runs these functions in a short warehouse visit of their own (appends and
prunes inside a transaction it opens). Only `_rooftop.diffs` is also written elsewhere: by the
stream writers, inside their merge transaction (`diffs.py`).

Appends insert straight from Arrow (the table is registered as a view and scanned by DuckDB), in
one transaction: all rows or none. Reads come back as Arrow, cast to the table's exact schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from destinations.duckdb.names import Names
from destinations.sql_naming import quote_ident
from protocol.bookkeeping import (
    META_TABLES,
    PRUNABLE,
    SYNCS_TIME_COLUMN,
    BookkeepingTable,
    ColumnKind,
    conform,
)
from protocol.types import META_SCHEMA

if TYPE_CHECKING:
    import pyarrow as pa

_DUCKDB_TYPES: dict[ColumnKind, str] = {"string": "VARCHAR", "int64": "BIGINT", "timestamp": "TIMESTAMPTZ"}
"""The DuckDB column type of each bookkeeping column kind (`protocol.bookkeeping`)."""


def create_tables(cur: duckdb.DuckDBPyConnection, names: Names) -> None:
    """Create every missing meta table (autocommit DDL on `cur`; existing tables are kept).

    NOT NULL mirrors the table's required columns. DuckDB checks it per row without locking, so
    unlike a primary key it never makes concurrent appends conflict.
    """
    for table in META_TABLES.values():
        columns = ", ".join(f"{quote_ident(c.name)} {_DUCKDB_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}"
                            for c in table.columns)
        cur.execute(f"CREATE TABLE IF NOT EXISTS {names.meta(table.name)} ({columns})")


def append(cur: duckdb.DuckDBPyConnection, names: Names, table: BookkeepingTable, rows: pa.Table) -> None:
    """Insert `rows` into `_rooftop.<table>` in `cur`'s open transaction: all or none.

    Bound parameters, not a registered Arrow view: these appends (a sync's log, one write's status)
    are made from any thread, and an Arrow scan registered from a worker thread while another
    connection of the process opened the file failed now and then ("python_arrow_scan does not exist").
    One parameter per column, a list unnested in one statement: `executemany` runs the statement once
    per row (~0.7 ms a row: a 250-row sync log cost 0.17 CPU s, ~6 % of a 200k-row sync), this ~0.01 ms.
    """
    rows = conform(rows, table.schema)
    if rows.num_rows == 0:
        return
    columns = ", ".join(quote_ident(c.name) for c in table.columns)
    unnested = ", ".join(f"unnest(?::{_DUCKDB_TYPES[c.kind]}[])" for c in table.columns)
    values = [rows.column(c.name).to_pylist() for c in table.columns]
    cur.complete()  # see `read`
    cur.execute(f"INSERT INTO {names.meta(table.name)} ({columns}) SELECT {unnested}", values)


def read(cur: duckdb.DuckDBPyConnection, names: Names, table: BookkeepingTable, connection: str,
         where: Mapping[str, str | None] | None = None) -> pa.Table:
    """`connection`'s rows whose columns equal `where`'s values (None: IS NULL), as `table.schema`.

    `where` values are text (they come from the command line): DuckDB casts each to its column's
    type, so `{"seq": "2"}` finds the integer 2. Column names must be the table's own.
    """
    unknown = sorted(set(where or {}) - set(table.column_names))
    if unknown:
        raise ValueError(f"_rooftop.{table.name} has no column(s) {', '.join(unknown)}")
    conditions = ["connection = ?"]
    params: list[Any] = [connection]
    for name, value in (where or {}).items():
        column = quote_ident(name)
        if value is None:
            conditions.append(f"{column} IS NULL")
        else:
            conditions.append(f"{column} = CAST(? AS {_DUCKDB_TYPES[table.column(name).kind]})")
            params.append(value)
    columns = ", ".join(quote_ident(n) for n in table.column_names)
    statement = (f"SELECT {columns} FROM {names.meta(table.name)} "
                 f"WHERE {' AND '.join(conditions)} ORDER BY {quote_ident(table.time_column)}")
    # A relation cannot start while an earlier execute() on this cursor has rows left unread (a
    # fetchone of a one-row SELECT leaves its end unread); finish that first.
    cur.complete()
    try:
        found = cur.sql(statement, params=params).to_arrow_table()
    except duckdb.CatalogException:
        if _exists(cur, names, table.name):
            raise
        return table.schema.empty_table()
    # DuckDB exports TIMESTAMPTZ in the session's time zone; the cast relabels it as UTC (the same
    # instants) and restores the schema's exact types and nullability.
    return found.cast(table.schema)


def prune(cur: duckdb.DuckDBPyConnection, names: Names, name: str, connection: str, before: datetime) -> int:
    """Delete `connection`'s rows of `_rooftop.<name>` older than `before`; return how many."""
    return _older_rows(cur, names, name, connection, before, "DELETE")


def count_prunable(cur: duckdb.DuckDBPyConnection, names: Names, name: str, connection: str,
                   before: datetime) -> int:
    """How many rows `prune` would delete (a read: the delete waits for a write transaction)."""
    return _older_rows(cur, names, name, connection, before, "SELECT count(*)")


def _older_rows(cur: duckdb.DuckDBPyConnection, names: Names, name: str, connection: str, before: datetime,
                verb: str) -> int:
    if name not in PRUNABLE:
        raise ValueError(f"cannot prune _rooftop.{name}: only {', '.join(PRUNABLE)} are pruned")
    column = SYNCS_TIME_COLUMN if name == "syncs" else META_TABLES[name].time_column
    before = before if before.tzinfo else before.replace(tzinfo=UTC)  # naive: UTC, as Rooftop writes
    if not _exists(cur, names, name):
        return 0
    row = cur.execute(f"{verb} FROM {names.meta(name)} "
                      f"WHERE connection = ? AND {quote_ident(column)} < ?", [connection, before]).fetchone()
    return int(row[0]) if row else 0




def _exists(cur: duckdb.DuckDBPyConnection, names: Names, name: str) -> bool:
    rows = cur.execute(
        """SELECT 1 FROM duckdb_tables() WHERE database_name = ?
             AND NOT temporary AND schema_name = ? AND table_name = ?""",
        [names.catalog, META_SCHEMA, name]).fetchall()
    return bool(rows)
