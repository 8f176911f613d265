"""The `warehouse` fixture: each conformance test runs once per destination (duckdb, postgres,
parquet), and reads what landed through that destination's own ordinary readers (a read-only
DuckDB connection, psycopg, pyarrow over the table's manifest), never through Rooftop's writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from destinations.parquet import ParquetConfig, ParquetDestination, read_table
from destinations.postgres import PostgresConfig, PostgresDestination
from destinations.sql_naming import qualified
from protocol.types import Destination, SyncRecord

DESTINATIONS = ["duckdb", "postgres", "parquet"]


@dataclass
class Warehouse:
    kind: str
    root: Path
    url: str | None = None

    def config(self, **extra: Any) -> dict[str, Any]:
        bases: dict[str, dict[str, Any]] = {"duckdb": {"path": "wh.duckdb"}, "parquet": {"path": "lake"},
                                            "postgres": {"url": self.url}}
        base = bases[self.kind]
        return {**base, **extra}

    def yaml(self, **extra: Any) -> str:
        """The connection file's `destination:` value (JSON is YAML)."""
        return json.dumps({"connector": self.kind, "config": self.config(**extra)})

    def destination(self, **extra: Any) -> Destination:
        """A fresh, unopened destination; `extra` overrides config settings (e.g. a lock timeout)."""
        classes: dict[str, tuple[type[Destination], type[BaseModel]]] = {
            "duckdb": (DuckDBDestination, DuckDBConfig), "parquet": (ParquetDestination, ParquetConfig),
            "postgres": (PostgresDestination, PostgresConfig)}
        cls, model = classes[self.kind]
        return cls(model(**self.config(**extra)), root=self.root)

    def records(self, namespace: str, table: str) -> list[dict[str, Any]] | None:
        """Every row of a table as a dict, or None when the table does not exist."""
        if self.kind == "parquet":
            data = read_table(self.root / "lake", namespace, table)
            return None if data is None else data.to_pylist()
        if self.kind == "duckdb":
            path = self.root / "wh.duckdb"
            if not path.exists():
                return None
            with duckdb.connect(str(path), read_only=True) as con:
                con.execute("SET TimeZone = 'UTC'")
                exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                                     [namespace, table]).fetchone()
                if not exists or not exists[0]:
                    return None
                cur = con.execute(f"SELECT * FROM {qualified(namespace, table)}")
                names = [d[0] for d in cur.description or []]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        with self.pg() as conn:
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", [qualified(namespace, table)]).fetchone()
            if not found or not found["ok"]:
                return None
            return list(conn.execute(f"SELECT * FROM {qualified(namespace, table)}").fetchall())

    def columns(self, namespace: str, table: str) -> list[str] | None:
        with self.destination() as dest:
            schema = dest.describe_table(namespace, table)
        return None if schema is None else schema.names

    def state(self, connection: str) -> dict[str, Any]:
        with self.destination() as dest:
            return dest.read_state(connection)

    def syncs(self, connection: str) -> list[SyncRecord]:
        with self.destination() as dest:
            return dest.recent_syncs(connection, limit=100)

    def pg(self) -> psycopg.Connection[dict[str, Any]]:
        assert self.url is not None
        url = make_url(self.url)
        return psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                               options="-c TimeZone=UTC", row_factory=dict_row)


WarehouseFactory = Callable[[Path], Warehouse]


@pytest.fixture(params=DESTINATIONS)
def warehouse_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def warehouse(warehouse_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """The destination under test, rooted at the test's workspace (`tmp_path`)."""
    url = request.getfixturevalue("postgres_url") if warehouse_kind == "postgres" else None
    return Warehouse(kind=warehouse_kind, root=tmp_path, url=url)
