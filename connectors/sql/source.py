"""The `sql` source: tables and views of any SQLAlchemy database as streams.

`discover` reflects one schema (the catalog's namespace): every table and view the include/exclude
patterns let through, its columns as Arrow types (`types.py`) and its primary key from the
constraints. `read` selects the columns the engine keeps, applies the stream's `where`, and for
incremental syncs reads `cursor >= saved cursor ORDER BY cursor`, yielding a checkpoint after
every batch (`readers.py` does the fetching). The boundary rows at the saved cursor are read again
on purpose: the destinations keep them once.

Opened offline (`SourceContext.offline`: a Dagster code-location load) it never connects: the
streams are the ones the connection file lists (else the plain names in `include` and `streams`),
with no known column (`schema_known=False`) and no key; the run reflects the rest.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
import sqlalchemy as sa
from psycopg import sql as pgsql
from pydantic import BaseModel
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.types import TypeEngine

from connectors.sql.config import SqlConfig
from connectors.sql.readers import CopyStream, highest, read_adbc, read_postgres_csv, rows_to_batch
from connectors.sql.types import arrow_type, from_json, is_json_like, to_json
from protocol.errors import AuthError, ConfigError, SourceUnavailable
from protocol.types import Catalog, CatalogStream, ReadRequest, SourceContext, SourceItem, StateCheckpoint

log = logging.getLogger(__name__)

# Session settings that make COPY's text output what the Arrow CSV reader parses.
_PG_SESSION = ("SET TimeZone TO 'UTC'", "SET DateStyle TO 'ISO, YMD'", "SET extra_float_digits TO 3",
               "SET bytea_output TO 'hex'")


@dataclass(frozen=True)
class _Table:
    name: str
    kind: str
    columns: dict[str, TypeEngine[Any]]
    stream: CatalogStream


class SqlSource:
    """Tables and views of any SQLAlchemy database (PostgreSQL, SQLite, …) as streams."""

    name: ClassVar[str] = "sql"
    config_model: ClassVar[type[BaseModel]] = SqlConfig

    def __init__(self, config: SqlConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.config = config
        self.root = root
        self.context = context or SourceContext()
        self._engine: sa.Engine | None = None
        self._tables: dict[str, _Table] | None = None
        self._namespace = ""
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        url = self.config.sqlalchemy_url(self.root)
        # hide_parameters: bound values (cursor values, row data) never appear in error messages.
        self._engine = sa.create_engine(url, hide_parameters=True,
                                        pool_size=max(5, self.context.max_concurrency))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("sql source is not open: use it as a context manager")
        return self._engine

    def _connect(self) -> sa.Connection:
        try:
            return self.engine.connect()
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
            where = self.engine.url.render_as_string(hide_password=True)
            if "authentication failed" in reason or "access denied" in reason.lower():
                raise AuthError(f"database {where} refused the credentials: {reason}", field="password") from None
            raise SourceUnavailable(f"cannot reach database {where}: {reason}") from None

    def check(self) -> None:
        with self._connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- catalog --------------------------------------------------------------------------------

    def discover(self) -> Catalog:
        if self.context.offline:
            return self._describe_offline()
        with self._lock:
            if self._tables is None:
                self._tables = self._reflect()
            tables = self._tables
        return Catalog(namespace=self._namespace, streams=tuple(t.stream for t in tables.values()))

    def _reflect(self) -> dict[str, _Table]:
        dialect = self.engine.dialect.name
        with self._connect() as conn:
            inspector = sa.inspect(conn)
            schema = self.config.db_schema or inspector.default_schema_name or ""
            if schema not in inspector.get_schema_names():
                raise ConfigError(f"sql source: schema {schema!r} does not exist (schemas: "
                                  f"{', '.join(inspector.get_schema_names())})")
            self._namespace = schema
            kinds = {n: "table" for n in inspector.get_table_names(schema=schema)}
            if self.config.views:
                kinds.update({n: "view" for n in inspector.get_view_names(schema=schema)})
            names = sorted(n for n in kinds if self._selected(n))
            if not names:
                return {}
            columns = inspector.get_multi_columns(schema=schema, filter_names=names, kind=ObjectKind.ANY)
            keys = inspector.get_multi_pk_constraint(schema=schema, filter_names=names, kind=ObjectKind.ANY)
        unknown = set(self.config.streams) - set(names)
        if unknown:
            raise ConfigError(f"sql source: streams options for {', '.join(sorted(unknown))}, which "
                              f"schema {schema!r} does not expose (streams: {', '.join(names)})")
        tables = {}
        for name in names:
            cols = columns.get((schema, name)) or columns.get((None, name)) or []
            pk: Mapping[str, Any] = keys.get((schema, name)) or keys.get((None, name)) or {}
            types = {c["name"]: c["type"] for c in cols}
            arrow = pa.schema([pa.field(c["name"], arrow_type(c["type"], dialect)) for c in cols])
            stream = CatalogStream(name=name, schema=arrow,
                                   primary_key=tuple(pk.get("constrained_columns") or ()),
                                   description=f"{kinds[name]} {schema}.{name}")
            tables[name] = _Table(name=name, kind=kinds[name], columns=types, stream=stream)
        return tables

    def _describe_offline(self) -> Catalog:
        plain = [p for p in self.config.include if not any(c in p for c in "*?[")]
        named = self.context.named_streams
        names = [n for n in dict.fromkeys([*plain, *self.config.streams] if named is None else named)
                 if self._selected(n)]
        if not names:
            raise ConfigError("sql source: loaded offline (a Dagster code location reads no database), it cannot "
                              "list this database's tables: name the streams under `streams:` in the connection "
                              "file, or as plain names in `include`")
        namespace = self.config.db_schema or _default_schema(self.config.url)
        return Catalog(namespace=namespace, streams=tuple(
            CatalogStream(name=n, schema=pa.schema([]), description=f"{namespace}.{n}", schema_known=False)
            for n in names))

    def _selected(self, name: str) -> bool:
        return (any(fnmatch.fnmatchcase(name, p) for p in self.config.include)
                and not any(fnmatch.fnmatchcase(name, p) for p in self.config.exclude))

    # -- reading --------------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        self.discover()
        assert self._tables is not None
        table = self._tables.get(request.stream.name)
        if table is None:
            raise ConfigError(f"sql source: no table or view {request.stream.name!r} in {self._namespace!r}")
        wanted = set(request.fields) if request.fields is not None else None
        names = [n for n in table.stream.schema.names if wanted is None or n in wanted]
        schema = pa.schema([table.stream.schema.field(n) for n in names])
        cursor = request.cursor_field if request.incremental else None
        if cursor is not None and cursor not in table.columns:
            raise ConfigError(f"stream {table.name!r}: cursor field {cursor!r} is not a column")
        lower, upper = self._bounds(request, schema, cursor)
        options = self.config.streams.get(table.name)
        where = options.where if options else None
        path = self.config.read_path
        if self.engine.dialect.name != "postgresql" and path in ("adbc", "copy"):
            raise ConfigError(f"sql source: read_path {path!r} is for PostgreSQL only")
        if self.engine.dialect.name == "postgresql" and path != "sqlalchemy":
            query = self._pg_select(table, schema, cursor, lower, upper, where)
            batches = self._read_copy(query, schema) if path == "copy" else self._read_adbc(query, schema)
        else:
            batches = self._read_rows(table, schema, cursor, lower, upper, where)
        for batch in batches:
            yield batch
            if cursor is not None:
                value = highest(batch, cursor)
                if value is not None:
                    yield StateCheckpoint({"cursor": to_json(value)})

    @staticmethod
    def _bounds(request: ReadRequest, schema: pa.Schema, cursor: str | None) -> tuple[Any, Any]:
        if cursor is None:
            return None, None
        t = schema.field(cursor).type
        saved = (request.state or {}).get("cursor")
        lower = from_json(saved, t) if saved is not None else None
        if lower is None and request.start_date is not None:
            lower = _date_bound(request.start_date, t)
        upper = _date_bound(request.end_date + timedelta(days=1), t) if request.end_date else None
        return lower, upper

    def _pg_select(self, table: _Table, schema: pa.Schema, cursor: str | None, lower: Any, upper: Any,
                   where: str | None) -> pgsql.Composed:
        """The SELECT both PostgreSQL fast paths run, values inlined as safely quoted literals
        (COPY takes no bind parameters)."""
        select: list[pgsql.Composable] = []
        for f in schema:
            column = pgsql.Identifier(f.name)
            if isinstance(table.columns[f.name], sa.ARRAY):
                # Arrays as JSON text (not PostgreSQL's `{1,2}` literal), like the general path.
                select.append(pgsql.SQL("array_to_json({})::text").format(column))
            elif pa.types.is_string(f.type) or pa.types.is_decimal(f.type):
                # Text for whatever the catalog reads as text (json, uuid, enums, intervals), and
                # for numerics: the engine's cast to decimal records values that do not fit.
                select.append(pgsql.SQL("{}::text").format(column))
            else:
                select.append(column)
        query = pgsql.SQL("SELECT {} FROM {}").format(pgsql.SQL(", ").join(select),
                                                       pgsql.Identifier(self._namespace, table.name))
        conditions: list[pgsql.Composable] = []
        if lower is not None:
            conditions.append(pgsql.SQL("{} >= {}").format(pgsql.Identifier(cursor or ""), pgsql.Literal(lower)))
        if upper is not None:
            conditions.append(pgsql.SQL("{} < {}").format(pgsql.Identifier(cursor or ""), pgsql.Literal(upper)))
        if where:
            conditions.append(pgsql.SQL("(" + where + ")"))
        if conditions:
            query = pgsql.SQL("{} WHERE {}").format(query, pgsql.SQL(" AND ").join(conditions))
        if cursor is not None:
            query = pgsql.SQL("{} ORDER BY {}").format(query, pgsql.Identifier(cursor))
        return query

    def _read_adbc(self, query: pgsql.Composed, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        uri = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        yield from read_adbc(uri, query.as_string(None), schema, self.config.batch_size)

    def _read_copy(self, query: pgsql.Composed, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        read_schema = pa.schema([f.with_type(pa.string()) if pa.types.is_decimal(f.type) else f for f in schema])
        with self._connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            try:
                with raw.cursor() as cur:
                    for statement in _PG_SESSION:
                        cur.execute(statement)
                    copy_sql = pgsql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
                    with cur.copy(copy_sql) as copy:
                        yield from read_postgres_csv(CopyStream(iter(copy)), read_schema, self.config.batch_size)
            finally:
                raw.rollback()  # read-only: end the snapshot

    def _binder(self, sql_type: TypeEngine[Any], t: pa.DataType) -> Any:
        """How cursor comparisons are written. SQLite keeps dates and times as text in whatever
        format they were written ('2024-01-01 10:00' vs '2024-01-01 10:00:00.000000'), where text
        comparison would miss the boundary rows; julianday() compares the instants instead."""
        if self.engine.dialect.name == "sqlite" and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
            return sa.func.julianday
        return _as_is

    def _read_rows(self, table: _Table, schema: pa.Schema, cursor: str | None, lower: Any, upper: Any,
                   where: str | None) -> Iterator[pa.RecordBatch]:
        t = sa.Table(table.name, sa.MetaData(), *(sa.Column(n, table.columns[n]) for n in schema.names),
                     schema=self._namespace)
        query = sa.select(*t.columns)
        if cursor and (lower is not None or upper is not None):
            column, bind = t.c[cursor], self._binder(table.columns[cursor], schema.field(cursor).type)
            if lower is not None:
                query = query.where(bind(column) >= bind(sa.bindparam("rooftop_lower", lower, type_=column.type)))
            if upper is not None:
                query = query.where(bind(column) < bind(sa.bindparam("rooftop_upper", upper, type_=column.type)))
        if where:
            # A literal `:word` in the user's SQL is not a bind parameter.
            query = query.where(sa.text(where.replace(":", "\\:")))
        if cursor:
            query = query.order_by(t.c[cursor])
        json_columns = {n for n in schema.names if is_json_like(table.columns[n])}
        size = self.config.batch_size
        with self._connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
            for rows in result.partitions(size):
                yield rows_to_batch(rows, schema, json_columns)


def _as_is(value: Any) -> Any:
    return value


def _date_bound(day: date, t: pa.DataType) -> Any:
    """A `start_date`/`end_date` as a value comparable with a cursor column of type `t`."""
    if pa.types.is_timestamp(t):
        return datetime.combine(day, time(), tzinfo=UTC if t.tz else None)
    if pa.types.is_date(t):
        return day
    return day.isoformat()


def _default_schema(url: str) -> str:
    """The schema a database reads when none is named, known without connecting (offline)."""
    parsed = sa.make_url(url)
    defaults = {"postgresql": "public", "sqlite": "main", "duckdb": "main", "mssql": "dbo"}
    return defaults.get(parsed.get_backend_name(), parsed.database or "")
