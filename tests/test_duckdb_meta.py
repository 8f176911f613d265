"""DuckDB-specific parts of the `_rooftop` meta store: a failed diff insert rolls back its merge (a
CHECK constraint forced onto the table), missing meta tables read as empty and are recreated, and
reads are UTC whatever the session time zone. The diff rules every destination shares are in
tests/conformance/test_diff_rules.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from protocol.bookkeeping import DIFFS, SYNC_LOGS
from tests.support.diff_cases import T0, people_batch, people_spec


def _dest(root: Path) -> DuckDBDestination:
    return DuckDBDestination(DuckDBConfig(path="wh.duckdb"), root=root)


def _person(i: int, updated: int, **values: Any) -> dict[str, Any]:
    return {"id": i, "name": f"p{i}", "score": 1.0, "tags": ["a"], "updated": updated, **values}


def _diffs(root: Path, sync_id: str) -> set[tuple[str, str, str]]:
    with _dest(root) as dest:
        rows = dest.read_bookkeeping(DIFFS, "c", where={"sync_id": sync_id}).to_pylist()
    assert all(r["stream"] == "people" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(r["key"], r["change"], r["fields"]) for r in rows}


def _rows(root: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        cur = con.execute("SELECT * FROM ns.people ORDER BY id")
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_a_failing_diff_insert_rolls_back_its_merge(tmp_path: Path) -> None:
    spec = people_spec()
    with _dest(tmp_path) as dest:
        with dest._require().writing() as cur:
            # The same table, plus a CHECK that refuses the diff of key 3.
            cur.execute("DROP TABLE _rooftop_warehouse._rooftop.diffs")
            cur.execute("""CREATE TABLE _rooftop_warehouse._rooftop.diffs (connection VARCHAR, stream VARCHAR,
                sync_id VARCHAR, recorded_at TIMESTAMPTZ, change VARCHAR, key VARCHAR, fields VARCHAR,
                CHECK (key <> '{"id":3}'))""")
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))
        writer.commit({"cursor": 1})
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))  # merged with the next batch, in one commit
        writer.write(people_batch(spec, "s1", [_person(1, 2, name="changed"), _person(3, 1)]))
        with pytest.raises(duckdb.ConstraintException):
            writer.commit({"cursor": 2})
        writer.abort()
        assert dest.read_state("c") == {"people": {"cursor": 1}}
    assert [(r["id"], r["name"]) for r in _rows(tmp_path)] == [(1, "p1")]
    assert _diffs(tmp_path, "s1") == {('{"id":1}', "inserted", "[]")}


def test_missing_meta_tables_read_as_empty_and_are_recreated(tmp_path: Path) -> None:
    with _dest(tmp_path) as dest:
        with dest._require().writing() as cur:
            cur.execute("DROP TABLE _rooftop_warehouse._rooftop.diffs")
        assert dest.read_bookkeeping(DIFFS, "c").schema == DIFFS.schema
        assert dest.read_bookkeeping(DIFFS, "c", where={"sync_id": "x"}).num_rows == 0
        assert dest.prune_history("diffs", "c", T0) == 0
    with _dest(tmp_path) as dest:
        dest.append_bookkeeping(DIFFS, pa.Table.from_pylist([
            {"connection": "c", "stream": "s", "sync_id": "x", "recorded_at": T0, "change": "inserted",
             "key": "{}", "fields": "[]"}], schema=DIFFS.schema))
        assert dest.read_bookkeeping(DIFFS, "c").num_rows == 1


def _logs(n: int, connection: str = "a") -> pa.Table:
    return pa.Table.from_pylist([
        {"connection": connection, "sync_id": "s", "seq": i, "at": T0 + timedelta(days=i), "level": "INFO",
         "event": None if i else "start", "stream": None, "message": "m", "data": None} for i in range(n)],
        schema=SYNC_LOGS.schema)


def test_reads_are_utc_whatever_the_session_time_zone(tmp_path: Path) -> None:
    with _dest(tmp_path) as dest:
        dest.append_bookkeeping(SYNC_LOGS, _logs(2))
        with dest._require().reading() as cur:  # a cursor of the destination's own DuckDB instance
            cur.execute("SET GLOBAL TimeZone = 'America/Chicago'")
            cur.execute("SET TimeZone = 'Asia/Kolkata'")
        table = dest.read_bookkeeping(SYNC_LOGS, "a", where={"at": "2026-01-02 00:00:00+00"})
    assert table.schema == SYNC_LOGS.schema
    assert [r["at"] for r in table.to_pylist()] == [T0 + timedelta(days=1)]
