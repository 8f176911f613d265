"""`record_exists(..., json_path=)` finds an id inside a JSON column, the same way in DuckDB and Postgres.

The rule (destinations/json_paths.py): keys name object members, a list matches if any of its
elements does, the value is compared as text. Each warehouse keeps the column its own way (DuckDB
JSON text, Postgres jsonb); real files and a real server, read through each destination's lookup.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from destinations.postgres import PostgresConfig, PostgresDestination
from protocol.types import RecordLookup

LEASES = [
    {"id": 1, "customers": {"customer": [{"id": 501, "name": "Ana"}, {"id": 502, "name": "Bo"}]}},
    {"id": 2, "customers": {"customer": [{"id": "x\"7", "name": "quoted"}]}},
    {"id": 3, "customers": None},
]
CASES = [("501", True), ("502", True), ('x"7', True), ("50", False), ("1", False), ("Ana", False)]


def _check(destination: RecordLookup) -> None:
    for value, held in CASES:
        assert destination.record_exists("s", "leases", "customers", value, ("customer", "id")) is held, value
    assert destination.record_exists("s", "leases", "customers", "Ana", ("customer", "name"))
    assert destination.record_exists("s", "leases", "customers", "502", ("customer", "1", "id"))  # an index
    assert not destination.record_exists("s", "leases", "customers", "501", ("customer", "1", "id"))
    assert not destination.record_exists("s", "leases", "missing", "501", ("customer", "id"))


def test_duckdb(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as db:
        db.execute("CREATE SCHEMA s; CREATE TABLE s.leases (id BIGINT, customers JSON)")
        db.executemany("INSERT INTO s.leases VALUES (?, ?)",
                       [(r["id"], None if r["customers"] is None else json.dumps(r["customers"])) for r in LEASES])
    _check(DuckDBDestination(DuckDBConfig(path="wh.duckdb"), root=tmp_path))


@pytest.mark.usefixtures("postgres_server")
def test_postgres(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA s; CREATE TABLE s.leases (id bigint, customers jsonb)"))
        for r in LEASES:
            conn.execute(sa.text("INSERT INTO s.leases VALUES (:i, CAST(:c AS jsonb))"),
                         {"i": r["id"], "c": None if r["customers"] is None else json.dumps(r["customers"])})
    engine.dispose()
    _check(PostgresDestination(PostgresConfig(url=postgres_url), root=tmp_path))
