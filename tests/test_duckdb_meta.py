"""DuckDB-specific parts of the `_rooftop` meta store that the conformance suite does not reach:
the diff rules on awkward rows (older cursors, tombstones for unknown or deleted keys, keys coming
back, NULL and composite keys, columns the spec dropped, columns of an older type), diffs rolled
back with their merge and a failed diff rolling back its merge, no diffs without `record_diffs`,
read/prune edge cases (session time zone, missing tables), and meta calls while writers hold open
transactions."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from protocol.bookkeeping import DIFFS, SYNC_LOGS
from protocol.types import META_DELETED_AT, SyncMode, TableSpec
from tests.support.diff_cases import T0, people_batch, people_spec


def _dest(root: Path) -> DuckDBDestination:
    return DuckDBDestination(DuckDBConfig(path="wh.duckdb"), root=root)


def _person(i: int, updated: int, **values: Any) -> dict[str, Any]:
    return {"id": i, "name": f"p{i}", "score": 1.0, "tags": ["a"], "updated": updated, **values}


def _sync(root: Path, sync_id: str, *batches: list[dict[str, Any]], spec: TableSpec | None = None) -> None:
    """One sync; each batch is merged in a transaction of its own."""
    spec = spec or people_spec()
    with _dest(root) as dest:
        writer = dest.prepare(spec, sync_id)
        for rows in batches:
            writer.write(people_batch(spec, sync_id, rows))
            writer.commit({"cursor": sync_id})
        writer.finish({"cursor": sync_id})


def _diffs(root: Path, sync_id: str) -> set[tuple[str, str, str]]:
    with _dest(root) as dest:
        rows = dest.read_meta(DIFFS, "c", where={"sync_id": sync_id}).to_pylist()
    assert all(r["stream"] == "people" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(r["key"], r["change"], r["fields"]) for r in rows}


def _rows(root: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        cur = con.execute("SELECT * FROM ns.people ORDER BY id")
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_diff_rules(tmp_path: Path) -> None:
    _sync(tmp_path, "s1", [_person(1, 1), _person(2, 1), _person(3, 1, score=None),
                           _person(4, 1, score=float("nan")), _person(5, 1),
                           _person(6, 1, **{META_DELETED_AT: T0})])
    assert _diffs(tmp_path, "s1") == {(f'{{"id":{i}}}', "inserted", "[]") for i in range(1, 6)}
    _sync(tmp_path, "s2", [
        _person(1, 2, tags=["a", "b"]),                      # a nested (list) column changed
        _person(2, 0, name="older"),                          # older cursor: the merge keeps the stored row
        _person(3, 1, score=None),                            # re-read: NULL vs NULL and
        _person(4, 1, score=float("nan")),                    # NaN vs NaN are no change
        _person(5, 2, name=None), _person(5, 3, name=None, score=2.0),  # latest cursor wins
        _person(6, 2),                                        # the soft-deleted row comes back
        _person(7, 2, **{META_DELETED_AT: T0}),               # tombstone for an unknown key
    ], [_person(1, 2, tags=["a", "b"])])                      # second merge of the sync: nothing new
    assert _diffs(tmp_path, "s2") == {
        ('{"id":1}', "updated", '["tags","updated"]'),
        ('{"id":5}', "updated", '["name","score","updated"]'),
        ('{"id":6}', "inserted", "[]"),
    }
    _sync(tmp_path, "s3", [_person(5, 4, name=None, score=2.0, **{META_DELETED_AT: T0}),
                           _person(6, 3, **{META_DELETED_AT: T0}), _person(7, 3, **{META_DELETED_AT: T0})])
    assert _diffs(tmp_path, "s3") == {('{"id":5}', "deleted", "[]"), ('{"id":6}', "deleted", "[]")}
    _sync(tmp_path, "s4", [_person(5, 5, name=None, score=2.0, **{META_DELETED_AT: T0})])
    assert _diffs(tmp_path, "s4") == set()  # already deleted
    _sync(tmp_path, "s5", [_person(1, 9, tags=["a", "b"])])
    assert _diffs(tmp_path, "s5") == {('{"id":1}', "updated", '["updated"]')}  # meta columns never count
    assert [r["name"] for r in _rows(tmp_path)] == ["p1", "p2", "p3", "p4", None, "p6", "p7"]


def test_composite_text_and_null_keys(tmp_path: Path) -> None:
    fields = [pa.field("org", pa.string()), pa.field("n", pa.int32()), pa.field("v", pa.string()),
              pa.field("updated", pa.int64())]
    spec = people_spec(fields, keys=("org", "n"))
    odd = "q\"uote\\back\nline é ' :x"
    _sync(tmp_path, "s1", [{"org": odd, "n": 1, "v": "a", "updated": 1},
                           {"org": None, "n": None, "v": "a", "updated": 1}], spec=spec)
    _sync(tmp_path, "s2", [{"org": odd, "n": 1, "v": "b", "updated": 2},
                           {"org": None, "n": None, "v": None, "updated": 2}], spec=spec)
    found = {(tuple(json.loads(key).items()), change, fields) for key, change, fields in _diffs(tmp_path, "s2")}
    assert found == {((("org", odd), ("n", 1)), "updated", '["v","updated"]'),
                     ((("org", None), ("n", None)), "updated", '["v","updated"]')}


def test_dropped_and_older_typed_columns(tmp_path: Path) -> None:
    wide = [pa.field("id", pa.int64()), pa.field("n", pa.int32()), pa.field("gone", pa.string()),
            pa.field("updated", pa.int64())]
    _sync(tmp_path, "s1", [{"id": 1, "n": 1, "gone": "x", "updated": 1},
                           {"id": 2, "n": 2, "gone": None, "updated": 1}], spec=people_spec(wide))
    # The source dropped `gone` (the merge leaves it NULL) and now says bigint for the integer `n`.
    narrow = [pa.field("id", pa.int64()), pa.field("n", pa.int64()), pa.field("updated", pa.int64())]
    _sync(tmp_path, "s2", [{"id": 1, "n": 1, "updated": 1}, {"id": 2, "n": 3, "updated": 1}], spec=people_spec(narrow))
    assert _diffs(tmp_path, "s2") == {('{"id":1}', "updated", '["gone"]'), ('{"id":2}', "updated", '["n"]')}


def test_aborted_merge_leaves_no_diffs_and_no_flag_no_diffs(tmp_path: Path) -> None:
    spec = people_spec()
    with _dest(tmp_path) as dest:
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))
        writer.commit({"cursor": 1})
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))
        with pytest.raises(TypeError):
            # The merge and its diff ran, then the state cannot be stored: finish rolls both back.
            writer.finish({"cursor": object()})
    assert _diffs(tmp_path, "s1") == {('{"id":1}', "inserted", "[]")}
    assert [r["id"] for r in _rows(tmp_path)] == [1]
    _sync(tmp_path, "s2", [_person(1, 3, name="y"), _person(9, 3)], spec=people_spec(record_diffs=False))
    assert _diffs(tmp_path, "s2") == set()
    assert [r["name"] for r in _rows(tmp_path)] == ["y", "p9"]


def test_a_failing_diff_insert_rolls_back_its_merge(tmp_path: Path) -> None:
    spec = people_spec()
    with _dest(tmp_path) as dest:
        assert dest._meta_cur is not None
        # The same table, plus a CHECK that refuses the diff of key 3.
        dest._meta_cur.execute("DROP TABLE _rooftop.diffs")
        dest._meta_cur.execute("""CREATE TABLE _rooftop.diffs (connection VARCHAR, stream VARCHAR, sync_id VARCHAR,
            recorded_at TIMESTAMPTZ, change VARCHAR, key VARCHAR, fields VARCHAR, CHECK (key <> '{"id":3}'))""")
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))
        writer.commit({"cursor": 1})
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))  # merged in the open transaction
        with pytest.raises(duckdb.ConstraintException):
            writer.write(people_batch(spec, "s1", [_person(1, 2, name="changed"), _person(3, 1)]))
        writer.abort()
        assert dest.read_state("c") == {"people": {"cursor": 1}}
    assert [(r["id"], r["name"]) for r in _rows(tmp_path)] == [(1, "p1")]
    assert _diffs(tmp_path, "s1") == {('{"id":1}', "inserted", "[]")}


def test_missing_meta_tables_read_as_empty_and_are_recreated(tmp_path: Path) -> None:
    with _dest(tmp_path) as dest:
        assert dest._meta_cur is not None
        dest._meta_cur.execute("DROP TABLE _rooftop.diffs")
        assert dest.read_meta(DIFFS, "c").schema == DIFFS.schema
        assert dest.read_meta(DIFFS, "c", where={"sync_id": "x"}).num_rows == 0
        assert dest.prune_meta("diffs", "c", T0) == 0
    with _dest(tmp_path) as dest:
        dest.append_meta(DIFFS, pa.Table.from_pylist([
            {"connection": "c", "stream": "s", "sync_id": "x", "recorded_at": T0, "change": "inserted",
             "key": "{}", "fields": "[]"}], schema=DIFFS.schema))
        assert dest.read_meta(DIFFS, "c").num_rows == 1


def test_other_modes_ignore_the_flag(tmp_path: Path) -> None:
    for mode in (SyncMode.INCREMENTAL_APPEND, SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND):
        _sync(tmp_path, "s1", [_person(1, 1)], spec=people_spec(mode=mode))
    assert _diffs(tmp_path, "s1") == set()


def _logs(n: int, connection: str = "a") -> pa.Table:
    return pa.Table.from_pylist([
        {"connection": connection, "sync_id": "s", "seq": i, "at": T0 + timedelta(days=i), "level": "INFO",
         "event": None if i else "start", "stream": None, "message": "m", "data": None} for i in range(n)],
        schema=SYNC_LOGS.schema)




def test_reads_are_utc_whatever_the_session_time_zone(tmp_path: Path) -> None:
    with _dest(tmp_path) as dest:
        dest.append_meta(SYNC_LOGS, _logs(2))
        assert dest._meta_cur is not None
        dest._meta_cur.execute("SET GLOBAL TimeZone = 'America/Chicago'")
        dest._meta_cur.execute("SET TimeZone = 'Asia/Kolkata'")
        table = dest.read_meta(SYNC_LOGS, "a", where={"at": "2026-01-02 00:00:00+00"})
    assert table.schema == SYNC_LOGS.schema
    assert [r["at"] for r in table.to_pylist()] == [T0 + timedelta(days=1)]


def test_meta_calls_while_a_writer_holds_an_open_merge(tmp_path: Path) -> None:
    spec = people_spec()
    with _dest(tmp_path) as dest:
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))  # its merge and diff are not committed yet
        dest.append_meta(SYNC_LOGS, _logs(3))
        dest.append_meta(DIFFS, pa.Table.from_pylist([
            {"connection": "c", "stream": "old", "sync_id": "s0", "recorded_at": T0, "change": "inserted",
             "key": '{"id":0}', "fields": "[]"}], schema=DIFFS.schema))
        assert dest.read_meta(DIFFS, "c", where={"sync_id": "s1"}).num_rows == 0  # not visible yet
        assert dest.prune_meta("diffs", "c", T0 + timedelta(days=1)) == 1
        assert dest.prune_meta("sync_logs", "a", T0 + timedelta(days=1)) == 1
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))
        assert writer.finish({"cursor": 1}) == 2
        assert len(dest.read_meta(SYNC_LOGS, "a")) == 2
    assert _diffs(tmp_path, "s1") == {('{"id":1}', "inserted", "[]"), ('{"id":2}', "inserted", "[]")}
