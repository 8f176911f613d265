"""The `sql` source against real databases: SQLite (the general SQLAlchemy path) and a throwaway
PostgreSQL server (the COPY fast path, and the general path for comparison)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from connectors.sql import SqlConfig, SqlSource
from pipelines.engine.runner import run_sync
from protocol.errors import ConfigError, SourceUnavailable
from protocol.types import ReadRequest, StateCheckpoint
from tests.conftest import WorkspaceFactory, connection
from tests.warehouse_checks import rows

PG_DDL = '''
CREATE TABLE leases (id bigint PRIMARY KEY, unit_id integer, status text, rent numeric(12,2),
  ratio numeric, start_date date, opens time, active boolean, tags text[], doc jsonb, blob bytea,
  score double precision, updated_at timestamptz);
CREATE TABLE "odd ""name""" ("Key" int PRIMARY KEY, v text);
CREATE VIEW current_leases AS SELECT id, status FROM leases WHERE active;
INSERT INTO "odd ""name""" VALUES (1, 'a');
'''
ROW = (1, 10, 'He said "hi",\nthen left', Decimal("1250.50"), Decimal("0.333333333"), date(2024, 1, 31),
       time(9, 30), True, ["a", "b,c"], json.dumps({"k": [1, 2]}), b"\x00\xff", 1.5,
       datetime(2024, 1, 1, 12, tzinfo=UTC))


def _pg(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)


def _fill_pg(url: str, n: int = 50) -> None:
    with _pg(url) as conn:
        conn.execute(PG_DDL)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO leases VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", ROW)
            cur.executemany(
                "INSERT INTO leases (id, unit_id, status, rent, updated_at, active) VALUES (%s, %s, %s, %s, %s, %s)",
                [(i, i % 7, "" if i % 5 == 0 else None if i % 3 == 0 else f"s{i}", Decimal(i) / 4,
                  datetime(2024, 2, 1 + i % 20, tzinfo=UTC), i % 2 == 0) for i in range(2, n + 1)])


def _source(url: str, tmp_path: Path, **config: Any) -> SqlSource:
    return SqlSource(SqlConfig.model_validate({"url": url, **config}), root=tmp_path)


def _read(source: SqlSource, stream: str, **request: Any) -> tuple[pa.Table, list[dict[str, Any]]]:
    catalog = source.discover()
    items = list(source.read(ReadRequest(stream=catalog.get(stream), incremental=request.pop("incremental", False),
                                         cursor_field=request.pop("cursor_field", None),
                                         state=request.pop("state", None), **request)))
    batches = [i for i in items if isinstance(i, pa.RecordBatch)]
    states = [i.state for i in items if isinstance(i, StateCheckpoint)]
    return pa.Table.from_batches(batches) if batches else pa.table({}), states


def test_postgres_discovery_types_keys_and_views(postgres_url: str, tmp_path: Path) -> None:
    _fill_pg(postgres_url)
    with _source(postgres_url, tmp_path) as source:
        catalog = source.discover()
    assert catalog.namespace == "public"
    assert sorted(catalog.names) == ["current_leases", "leases", 'odd "name"']
    leases = catalog.get("leases")
    assert leases is not None and leases.primary_key == ("id",)
    types = {f.name: f.type for f in leases.schema}
    assert types == {"id": pa.int64(), "unit_id": pa.int32(), "status": pa.string(), "rent": pa.decimal128(12, 2),
                     "ratio": pa.decimal128(38, 9), "start_date": pa.date32(), "opens": pa.time64("us"),
                     "active": pa.bool_(), "tags": pa.string(), "doc": pa.string(), "blob": pa.binary(),
                     "score": pa.float64(), "updated_at": pa.timestamp("us", tz="UTC")}
    assert catalog.get('odd "name"').primary_key == ("Key",)  # type: ignore[union-attr]
    with _source(postgres_url, tmp_path, include=["*leases"], exclude=["current_*"], views=False) as source:
        assert source.discover().names == ["leases"]


@pytest.mark.parametrize("read_path", ["adbc", "copy", "sqlalchemy"])
def test_postgres_values_survive_both_read_paths(postgres_url: str, tmp_path: Path, read_path: str) -> None:
    _fill_pg(postgres_url, n=5)
    with _source(postgres_url, tmp_path, read_path=read_path) as source:
        table, _ = _read(source, "leases")
        odd, _ = _read(source, 'odd "name"')
    first = {r["id"]: r for r in table.to_pylist()}[1]
    assert first["status"] == 'He said "hi",\nthen left' and first["blob"] == b"\x00\xff"
    assert first["start_date"] == date(2024, 1, 31) and first["opens"] == time(9, 30) and first["active"] is True
    assert json.loads(first["tags"]) == ["a", "b,c"] and json.loads(first["doc"]) == {"k": [1, 2]}
    assert Decimal(str(first["rent"])) == Decimal("1250.50") and first["score"] == 1.5
    assert first["updated_at"] == datetime(2024, 1, 1, 12, tzinfo=UTC)
    statuses = {r["id"]: r["status"] for r in table.to_pylist()}
    assert statuses[5] == "" and statuses[3] is None  # empty string and NULL stay distinct
    assert odd.to_pylist() == [{"Key": 1, "v": "a"}]


@pytest.mark.parametrize("read_path", ["adbc", "copy", "sqlalchemy"])
def test_incremental_reads_are_ordered_filtered_and_checkpointed(postgres_url: str, tmp_path: Path,
                                                                 read_path: str) -> None:
    _fill_pg(postgres_url, n=200)
    with _source(postgres_url, tmp_path, read_path=read_path, batch_size=25,
                 streams={"leases": {"where": "unit_id <> 3 AND status LIKE 's%'"}}) as source:
        table, states = _read(source, "leases", incremental=True, cursor_field="updated_at",
                              fields=("id", "updated_at"))
        assert table.column_names == ["id", "updated_at"]
        ids = table.column("id").to_pylist()
        cursors = table.column("updated_at").to_pylist()
        assert cursors == sorted(cursors) and len(states) >= 2
        assert all(i % 7 != 3 and i % 5 != 0 and i % 3 != 0 for i in ids)
        assert states[-1] == {"cursor": max(cursors).isoformat()}
        # Resume at the saved cursor: the boundary rows are read again (>=), nothing older.
        again, _ = _read(source, "leases", incremental=True, cursor_field="updated_at", state=states[-1])
        assert set(again.column("updated_at").to_pylist()) == {max(cursors)}


def test_postgres_to_duckdb_sync_and_resume(postgres_url: str, make_workspace: WorkspaceFactory) -> None:
    _fill_pg(postgres_url, n=300)
    root = make_workspace(f"""\
        name: pg
        source: {{connector: sql, config: {{url: "{postgres_url}", batch_size: 40}}}}
        destination: {{connector: duckdb, config: {{path: wh.duckdb, commit_every_rows: 50}}}}
        streams:
          - {{name: leases, sync_mode: incremental_deduped, cursor_field: updated_at,
              fields: [id, status, rent, updated_at]}}
          - {{name: 'odd "name"', sync_mode: full_refresh_overwrite}}
    """, name="pg")
    run_sync(connection(root, "pg"))
    db = root / "wh.duckdb"
    assert rows(db, "SELECT count(*), count(DISTINCT id) FROM public.leases") == [(300, 300)]
    with _pg(postgres_url) as conn:
        conn.execute("UPDATE leases SET status = 'moved', updated_at = '2030-01-01Z' WHERE id <= 10")
        conn.execute("INSERT INTO leases (id, status, updated_at) VALUES (1000, 'new', '2030-01-02Z')")
    result = run_sync(connection(root, "pg"))
    leases = next(s for s in result.streams if s.stream == "leases")
    boundary = len([i for i in range(2, 301) if i % 20 == 19])  # rows at the saved cursor, read again
    assert leases.rows_read == 11 + boundary  # the changes since the saved cursor, nothing older
    assert rows(db, "SELECT count(*) FROM public.leases WHERE status = 'moved'") == [(10,)]
    assert rows(db, "SELECT count(*) FROM public.leases") == [(301,)]
    assert rows(db, 'SELECT "Key", v FROM public."odd ""name"""') == [(1, "a")]


def test_sqlite_general_path_incremental_with_where(tmp_path: Path, make_workspace: WorkspaceFactory) -> None:
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE units (id INTEGER PRIMARY KEY, name TEXT, sqft REAL, price NUMERIC(10,2), "
                     "seen DATETIME)")
        conn.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?)",
                         [(i, f"u{i}", i * 10.5, f"{i}.25", f"2024-03-{i % 9 + 1:02d} 08:00:00") for i in range(1, 51)])
    root = make_workspace("""\
        name: lite
        source: {connector: sql, config: {url: "sqlite:///src.db", batch_size: 7,
                                          streams: {units: {where: "name <> 'u7'"}}}}
        destination: {connector: duckdb, config: {path: wh.duckdb}}
        streams: [{name: units, sync_mode: incremental_append, cursor_field: seen}]
    """, name="lite")
    run_sync(connection(root, "lite"))
    wh = root / "wh.duckdb"
    assert rows(wh, "SELECT count(*), sum(price), min(seen) FROM main.units") == [
        (49, Decimal("1280.25"), datetime(2024, 3, 1, 8))]
    with sqlite3.connect(db) as conn:  # written in another text format: the boundary still matches
        conn.execute("INSERT INTO units VALUES (99, 'late', 1, 1, '2024-03-09 08:00:00.000000')")
    result = run_sync(connection(root, "lite"))
    assert result.streams[0].rows_read == 6  # the 5 boundary rows again + the new one
    assert rows(wh, "SELECT count(*) FROM main.units") == [(50,)]  # boundary rows not stored twice


def test_unreachable_server_and_missing_schema_are_clear(postgres_url: str, tmp_path: Path) -> None:
    with _source(postgres_url, tmp_path, schema="nope") as source, pytest.raises(ConfigError, match="'nope'"):
        source.discover()
    url = make_url(postgres_url).set(port=1).render_as_string(hide_password=False)
    with _source(url, tmp_path, password="s3cret-value") as source, pytest.raises(SourceUnavailable) as info:
        source.check()
    assert "s3cret-value" not in str(info.value) and "cannot reach database" in str(info.value)
