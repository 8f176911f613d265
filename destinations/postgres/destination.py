"""`PostgresDestination`: a PostgreSQL warehouse, the step up from the embedded DuckDB file.

This module owns the life cycle (an engine without a pool: each writer holds one connection, and
so one transaction, for the whole stream), the catalog changes `prepare` makes (schemas, tables,
added and widened columns, staging and temp tables) and the sync log. Writing rows is
`writer.py`'s job, the `_rooftop` SQL `state.py`'s, types and COPY encoding `types.py`'s.

Two syncs of one connection never write at once: `mark_interrupted`, which the engine calls first,
takes a session advisory lock named after the connection on the metadata connection and keeps it
until the destination closes. A killed process's session ends, and with it the lock, so every
`running` row found under the lock was left by a dead process.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
import sqlalchemy as sa
from pydantic import BaseModel

from destinations.postgres import bookkeeping, lookup
from destinations.postgres import schema_store as schemas
from destinations.postgres import state as meta
from destinations.postgres.config import PostgresConfig
from destinations.postgres.engine import open_engine
from destinations.postgres.types import arrow_type, pg_type
from destinations.postgres.writer import ORDER_COLUMN, Boundary, PostgresStreamWriter, WritePlan
from destinations.sql_naming import qualified, quote_ident
from protocol.bookkeeping import SCHEMAS, BookkeepingTable, StorageLimits
from protocol.errors import AuthError, ConfigError, TransientError, WarehouseLocked
from protocol.schema_store import WarehouseSchemaStore
from protocol.types import META_SCHEMA, SyncMode, SyncRecord, TableSpec

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL silently truncates longer names, so two long names could land in one table."""

_STAGED_MODES = (SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND)
_LOCK_NOT_AVAILABLE = "55P03"


class PostgresDestination:
    """A PostgreSQL warehouse loaded with COPY (11+; deduped streams use MERGE: 15+)."""

    name: ClassVar[str] = "postgres"
    config_model: ClassVar[type[BaseModel]] = PostgresConfig
    # Text and jsonb cannot hold U+0000; dates: protocol.bookkeeping.StorageLimits.
    storage_limits: ClassVar[StorageLimits] = StorageLimits(nul_in_text=False)

    @staticmethod
    def identifier_problem(kind: str, name: str) -> str | None:
        """Every identifier (namespace, table, column) must fit PostgreSQL's limit (protocol.types)."""
        size = len(name.encode())
        return None if size <= MAX_IDENTIFIER_BYTES else (
            f"is {size} bytes, over PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte limit for names")

    def __init__(self, config: PostgresConfig, *, root: Path) -> None:
        self.config = config
        self.default_namespace = config.default_schema
        self.commit_every_rows = config.commit_every_rows
        self._engine: sa.Engine | None = None
        self._rooftop_conn: sa.Connection | None = None
        self._bookkeeping_lock = threading.Lock()
        self._ddl_lock = threading.Lock()
        self._writers_lock = threading.Lock()
        self._writers: set[PostgresStreamWriter] = set()
        self._locked: set[str] = set()

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._engine is not None:
            raise RuntimeError("Postgres destination is already open")
        engine = open_engine(self.config)
        try:
            self._rooftop_conn = self._connect(engine).execution_options(isolation_level="AUTOCOMMIT")
            with self._connect(engine) as setup:
                meta.create_rooftop_tables(setup)
        except BaseException:
            if self._rooftop_conn is not None:
                self._rooftop_conn.close()
                self._rooftop_conn = None
            engine.dispose()
            raise
        self._engine = engine
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        engine = self._engine
        if engine is None:
            return
        with self._writers_lock:
            writers = list(self._writers)
        with contextlib.ExitStack() as stack:
            stack.callback(engine.dispose)
            if self._rooftop_conn is not None:
                stack.callback(self._rooftop_conn.close)  # also releases the connection locks
            for writer in writers:
                stack.callback(writer.abort)
        self._engine = self._rooftop_conn = None
        self._locked.clear()

    def _connect(self, engine: sa.Engine) -> sa.Connection:
        """A new connection; unreachable servers and refused credentials become Rooftop errors."""
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
            where = f"{engine.url.host}:{engine.url.port}/{engine.url.database}"
            if "authentication failed" in reason or "no pg_hba.conf entry" in reason:
                raise AuthError(f"Postgres at {where} refused the credentials: {reason}",
                                field="password") from None
            raise TransientError(f"cannot reach Postgres at {where}: {reason}") from None
        return conn

    def check(self) -> None:
        """Connect and prove the role can create and drop a table in `_rooftop`."""
        if self._engine is None:
            with self:
                self._verify_writable()
        else:
            self._verify_writable()

    def _verify_writable(self) -> None:
        probe = qualified(META_SCHEMA, f"_check_{uuid.uuid4().hex[:16]}")
        with self._bookkeeping_lock:
            conn = self._require_bookkeeping()
            conn.execute(sa.text(f"CREATE TABLE {probe} (ok integer)"))
            conn.execute(sa.text(f"DROP TABLE {probe}"))

    # -- state and sync log ---------------------------------------------------------------------

    def read_state(self, connection: str) -> dict[str, dict[str, Any]]:
        with self._bookkeeping_lock:
            return meta.read_state(self._require_bookkeeping(), connection)

    def record_sync(self, record: SyncRecord) -> None:
        with self._bookkeeping_lock:
            meta.upsert_sync(self._require_bookkeeping(), record)

    def recent_syncs(self, connection: str, limit: int = 20) -> list[SyncRecord]:
        with self._bookkeeping_lock:
            return meta.recent_syncs(self._require_bookkeeping(), connection, limit)

    def mark_interrupted(self, connection: str) -> int:
        with self._bookkeeping_lock:
            conn = self._require_bookkeeping()
            self._lock_connection(conn, connection)
            return meta.mark_interrupted(conn, connection)

    def _lock_connection(self, conn: sa.Connection, connection: str) -> None:
        """Hold the connection's advisory lock for this destination's lifetime, waiting up to
        `lock_timeout_seconds` for another process that holds it."""
        if connection in self._locked:
            return
        key = {"k": f"rooftop.connection:{connection}"}
        timeout_ms = int(self.config.lock_timeout_seconds * 1000)
        if timeout_ms == 0:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key).scalar()
        else:
            conn.execute(sa.text(f"SET lock_timeout = {timeout_ms}"))
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), key)
                got = True
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                    raise
                got = False
            finally:
                conn.execute(sa.text("SET lock_timeout = 0"))
        if not got:
            raise WarehouseLocked(
                f"another sync of {connection!r} is writing to this Postgres warehouse; gave up after "
                f"{self.config.lock_timeout_seconds:g}s (lock_timeout_seconds)")
        self._locked.add(connection)

    # -- the other _rooftop tables (bookkeeping.py) ----------------------------------------------

    def append_bookkeeping(self, table: BookkeepingTable, rows: pa.Table) -> None:
        with self._bookkeeping_lock:
            bookkeeping.append(self._require_bookkeeping(), table, rows)

    def read_bookkeeping(self, table: BookkeepingTable, connection: str,
                         where: Mapping[str, str] | None = None) -> pa.Table:
        with self._bookkeeping_lock:
            return bookkeeping.read(self._require_bookkeeping(), table, connection, where)

    def prune_history(self, name: str, connection: str, before: datetime) -> int:
        with self._bookkeeping_lock:
            return bookkeeping.prune(self._require_bookkeeping(), name, connection, before)

    def record_exists(self, namespace: str, table: str, column: str, value: str,
                      json_path: tuple[str, ...] = ()) -> bool:
        return lookup.record_exists(self.config, namespace, table, column, value, json_path)

    def schema_store(self) -> WarehouseSchemaStore:
        """Learnt schemas (protocol.schema_store): read unopened, read-only; saved by `append_bookkeeping`."""
        return WarehouseSchemaStore(lambda c: schemas.read(self.config, c),
                                    lambda rows: self.append_bookkeeping(SCHEMAS, rows),
                                    where="_rooftop.schemas in the Postgres warehouse")

    def table_stats(self, namespace: str, table: str) -> int | None:
        with self._bookkeeping_lock:
            conn = self._require_bookkeeping()
            if _columns(conn, namespace, table) is None:
                return None
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {qualified(namespace, table)}")).scalar_one())

    def count_duplicate_keys(self, namespace: str, table: str, keys: tuple[str, ...]) -> int:
        if not keys:
            raise ValueError("count_duplicate_keys needs at least one key column")
        columns = ", ".join(quote_ident(k) for k in keys)
        with self._bookkeeping_lock:
            conn = self._require_bookkeeping()
            if _columns(conn, namespace, table) is None:
                return 0
            return int(conn.execute(sa.text(
                f"SELECT count(*) FROM (SELECT {columns} FROM {qualified(namespace, table)} "
                f"GROUP BY {columns} HAVING count(*) > 1) AS d")).scalar_one())

    def describe_table(self, namespace: str, table: str) -> pa.Schema | None:
        with self._bookkeeping_lock:
            columns = _columns(self._require_bookkeeping(), namespace, table)
        if columns is None:
            return None
        return pa.schema([pa.field(name, arrow_type(pg)) for name, pg in columns])

    # -- writing --------------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, sync_id: str) -> PostgresStreamWriter:
        engine = self._require_engine()
        _check_identifiers(spec)
        if spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED and not spec.primary_key:
            raise ConfigError(
                f"stream {spec.stream!r}: incremental_deduped needs a primary key to upsert on")
        target = qualified(spec.namespace, spec.table)
        staging_name = None
        if spec.sync_mode in _STAGED_MODES:
            digest = hashlib.sha1(f"{spec.namespace}\x00{spec.table}".encode()).hexdigest()[:20]
            staging_name = f"_rooftop_stage_{digest}"
        staging = qualified(META_SCHEMA, staging_name) if staging_name else None
        with self._ddl_lock, self._connect(engine) as ddl:
            existing = self._create_or_evolve(ddl, spec, target, staging)
            target_types = dict(_columns(ddl, spec.namespace, spec.table) or [])
            ddl.rollback()
        conn = self._connect(engine)
        try:
            temp, boundary = self._writer_session(conn, spec, target)
        except BaseException:
            conn.close()
            raise
        plan = WritePlan(target=target, namespace=spec.namespace, table_name=spec.table,
                         staging=staging, staging_name=staging_name, temp=temp,
                         columns=list(spec.schema.names), boundary=boundary,
                         other_columns=tuple(c for c in existing if c not in spec.schema.names),
                         target_types=target_types)
        writer = PostgresStreamWriter(conn, spec, sync_id, plan, self._forget)
        with self._writers_lock:
            self._writers.add(writer)
        return writer

    def _create_or_evolve(self, conn: sa.Connection, spec: TableSpec, target: str,
                          staging: str | None) -> list[str]:
        """Schema, target table (created, given new columns, widened columns), fresh staging.

        Columns the table has and the spec lacks stay: old rows keep them, new rows get NULL.
        Returns the names of the table's columns before the change.
        """
        columns = ", ".join(f"{quote_ident(f.name)} {pg_type(f.type)}" for f in spec.schema)
        with conn.begin():
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": meta.DDL_LOCK})
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(spec.namespace)}"))
            existing = _columns(conn, spec.namespace, spec.table)
            if existing is None and spec.sync_mode is not SyncMode.FULL_REFRESH_OVERWRITE:
                conn.execute(sa.text(f"CREATE TABLE {target} ({columns})"))
            elif existing is not None:
                have = dict(existing)
                widen = set(spec.widen)
                for f in spec.schema:
                    wanted = pg_type(f.type)
                    if f.name not in have:
                        conn.execute(sa.text(f"ALTER TABLE {target} ADD COLUMN {quote_ident(f.name)} {wanted}"))
                    elif f.name in widen and have[f.name] != wanted:
                        c = quote_ident(f.name)
                        conn.execute(sa.text(f"ALTER TABLE {target} ALTER COLUMN {c} TYPE {wanted} "
                                             f"USING {c}::{wanted}"))
            if spec.primary_key and spec.sync_mode in (SyncMode.INCREMENTAL_DEDUPED, SyncMode.INCREMENTAL_APPEND):
                index = "_rooftop_pk_" + hashlib.sha1(spec.table.encode()).hexdigest()[:16]
                keys = ", ".join(quote_ident(k) for k in spec.primary_key)
                conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {quote_ident(index)} ON {target} ({keys})"))
            if staging is not None:
                # A leftover from a crashed sync holds nothing worth keeping.
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {staging}"))
                conn.execute(sa.text(f"CREATE TABLE {staging} ({columns})"))
        return [name for name, _ in existing or []]

    @staticmethod
    def _writer_session(conn: sa.Connection, spec: TableSpec,
                        target: str) -> tuple[str | None, Boundary | None]:
        """The writer's temp table (deduped, boundary-checked append) and append boundary."""
        boundary = None
        if spec.sync_mode is SyncMode.INCREMENTAL_APPEND and spec.primary_key and spec.cursor_field:
            c = quote_ident(spec.cursor_field)
            row = conn.execute(sa.text(f"SELECT pg_typeof(max({c}))::text, max({c})::text FROM {target}")).one()
            if row[1] is not None:
                boundary = Boundary(pg_type=row[0], value=row[1])
        temp = None
        if spec.sync_mode is SyncMode.INCREMENTAL_DEDUPED or boundary is not None:
            temp = quote_ident(f"_rooftop_in_{uuid.uuid4().hex[:16]}")
            columns = ", ".join(f"{quote_ident(f.name)} {pg_type(f.type)}" for f in spec.schema)
            conn.execute(sa.text(f"CREATE TEMP TABLE {temp} ({columns}, "
                                 f"{quote_ident(ORDER_COLUMN)} bigserial)"))
        conn.commit()
        return temp, boundary

    def _forget(self, writer: PostgresStreamWriter) -> None:
        with self._writers_lock:
            self._writers.discard(writer)

    def _require_engine(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("Postgres destination is not open: use it as a context manager")
        return self._engine

    def _require_bookkeeping(self) -> sa.Connection:
        if self._rooftop_conn is None:
            raise RuntimeError("Postgres destination is not open: use it as a context manager")
        return self._rooftop_conn


def _columns(conn: sa.Connection, namespace: str, table: str) -> list[tuple[str, str]] | None:
    """(name, format_type) of each column of a table, in order, or None when there is none."""
    rows = conn.execute(sa.text(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
           FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid
           JOIN pg_namespace n ON c.relnamespace = n.oid
           WHERE n.nspname = :ns AND c.relname = :t AND c.relkind IN ('r', 'p')
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""),
        {"ns": namespace, "t": table}).all()
    return [(r[0], r[1]) for r in rows] or None


def _check_identifiers(spec: TableSpec) -> None:
    for kind, name in (("namespace", spec.namespace), ("table", spec.table),
                       *(("column", f.name) for f in spec.schema)):
        if len(name.encode()) > MAX_IDENTIFIER_BYTES:
            raise ConfigError(f"stream {spec.stream!r}: {kind} name {name!r} is longer than PostgreSQL's "
                              f"{MAX_IDENTIFIER_BYTES}-byte limit; shorten the prefix or the name")
