"""Rooftop's generic `_rooftop` tables (sync logs, properties, diffs; see `protocol.bookkeeping`) in Postgres.

The engine and the CLI read and write them through `append_bookkeeping` / `read_bookkeeping` / `prune_history`, which
`PostgresDestination` runs here on its autocommit metadata connection, so each call is a transaction
of its own and never joins a stream writer's. Only `_rooftop.diffs` is also written elsewhere: by
the stream writers, inside their merge transaction (`diffs.py`).

The tables are created with the other `_rooftop` tables when the destination opens, with one index
on (connection, time column): every read is by connection and retention deletes by connection and
age. Appends go through one binary COPY (`binary.py`): a single statement, so it commits all rows
or none even on an autocommit connection, without a round trip per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import sqlalchemy as sa

from destinations.postgres import binary
from destinations.postgres.types import pg_type
from destinations.sql_naming import qualified, quote_ident
from protocol.bookkeeping import META_TABLES, PRUNABLE, SYNCS_TIME_COLUMN, BookkeepingTable, conform
from protocol.types import META_SCHEMA

_UNDEFINED_TABLE = "42P01"


def create_tables(conn: sa.Connection) -> None:
    """Create every missing meta table and its index; joins `conn`'s transaction (which must hold
    the DDL advisory lock, so two processes never race on the same CREATE).

    Existing tables are left alone on purpose: even `CREATE INDEX IF NOT EXISTS` takes a SHARE lock
    on the table before it looks, which would make every destination open wait for the writers of
    other connections that are inserting diffs.
    """
    for table in META_TABLES.values():
        name = qualified(META_SCHEMA, table.name)
        if conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": name}).scalar_one():
            continue
        columns = ", ".join(f"{quote_ident(f.name)} {pg_type(f.type)}{'' if f.nullable else ' NOT NULL'}"
                            for f in table.schema)
        conn.execute(sa.text(f"CREATE TABLE {name} ({columns})"))
        index = quote_ident(f"{table.name}_connection_{table.time_column}")
        conn.execute(sa.text(f"CREATE INDEX {index} ON {name} (connection, {quote_ident(table.time_column)})"))


def append(conn: sa.Connection, table: BookkeepingTable, rows: pa.Table) -> None:
    """Insert `rows` with one binary COPY on the autocommit `conn`: all of them are committed, or none."""
    rows = conform(rows, table.schema)
    if rows.num_rows == 0:
        return
    names = table.schema.names
    types = {f.name: pg_type(f.type) for f in table.schema}
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = (f"COPY {qualified(META_SCHEMA, table.name)} ({', '.join(quote_ident(n) for n in names)}) "
                 "FROM STDIN (FORMAT binary)")
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(binary.HEADER)
        for batch in rows.to_batches():
            copy.write(binary.encode_rows(batch, names, types))
        copy.write(binary.TRAILER)


def read(conn: sa.Connection, table: BookkeepingTable, connection: str,
         where: Mapping[str, str | None] | None = None) -> pa.Table:
    """`connection`'s rows whose columns equal `where`'s values (None: IS NULL), as `table.schema`.

    `where` values are text (they come from the command line); each is converted to its column's
    type here, as the Parquet destination does, so `{"seq": "2"}` finds the integer 2.
    """
    conditions = ["connection = :connection"]
    params: dict[str, Any] = {"connection": connection}
    unknown = sorted(set(where or {}) - set(table.schema.names))
    if unknown:
        raise ValueError(f"_rooftop.{table.name} has no column(s) {', '.join(unknown)}")
    for i, (name, value) in enumerate((where or {}).items()):
        if value is None:
            conditions.append(f"{quote_ident(name)} IS NULL")
            continue
        params[f"w{i}"] = pa.scalar(value, pa.string()).cast(table.schema.field(name).type).as_py()
        conditions.append(f"{quote_ident(name)} = :w{i}")
    columns = ", ".join(quote_ident(n) for n in table.schema.names)
    statement = (f"SELECT {columns} FROM {qualified(META_SCHEMA, table.name)} "
                 f"WHERE {' AND '.join(conditions)} ORDER BY {quote_ident(table.time_column)}")
    try:
        rows = conn.execute(sa.text(statement), params).all()
    except sa.exc.ProgrammingError as exc:
        if _undefined_table(exc):
            return table.schema.empty_table()
        raise
    values = list(zip(*rows, strict=True)) if rows else [() for _ in table.schema]
    return pa.Table.from_arrays([pa.array(list(v), f.type) for v, f in zip(values, table.schema, strict=True)],
                                schema=table.schema)


def prune(conn: sa.Connection, name: str, connection: str, before: datetime) -> int:
    """Delete `connection`'s rows of `_rooftop.<name>` older than `before`; return how many."""
    if name not in PRUNABLE:
        raise ValueError(f"cannot prune _rooftop.{name}: only {', '.join(PRUNABLE)} are pruned")
    column = SYNCS_TIME_COLUMN if name == "syncs" else META_TABLES[name].time_column
    before = before if before.tzinfo else before.replace(tzinfo=UTC)  # naive: UTC, as Rooftop writes
    try:
        result = conn.execute(sa.text(
            f"DELETE FROM {qualified(META_SCHEMA, name)} WHERE connection = :c AND {quote_ident(column)} < :before"),
            {"c": connection, "before": before})
    except sa.exc.ProgrammingError as exc:
        if _undefined_table(exc):
            return 0
        raise
    return int(result.rowcount or 0)




def _undefined_table(exc: sa.exc.DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.Error) and exc.orig.sqlstate == _UNDEFINED_TABLE
