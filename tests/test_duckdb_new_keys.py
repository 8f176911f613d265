"""DuckDB's incremental_deduped merge of a batch none of whose keys is stored (a first load, new
records): it is inserted deduplicated without joining the whole table, and must land and record
exactly what the general merge does. Each case is checked against a twin run where one unrelated
key is stored first and re-read unchanged in every batch, which forces the general path (DELETE,
NOT EXISTS, diff join) for every merge.
Also: a full refresh's staged files reach DuckDB as streams, and the default memory_limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from protocol.bookkeeping import DIFFS
from protocol.types import META_DELETED_AT, SyncMode, TableSpec

TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([("id", pa.int64()), ("updated", pa.int64()), ("name", pa.string()), (META_DELETED_AT, TS)])
UNRELATED = (10_000, 0, "unrelated", None)
GONE = pa.scalar(1_700_000_000_000_000, TS).as_py()

BATCHES: dict[str, list[list[tuple[Any, ...]]]] = {
    # one key twice in a batch: the greatest cursor wins, ties go to the last read
    "duplicates in a batch": [[(1, 1, "a"), (1, 3, "b"), (2, 5, "c"), (2, 5, "d"), (3, 2, "e")]],
    # a NULL cursor loses within a batch, wins against a stored row in a later batch
    "null cursors": [[(1, None, "a"), (1, 2, "b")], [(1, None, "c"), (4, None, "d")]],
    # keys stored by an earlier batch of the same load, and new keys, in one batch
    "second batch": [[(1, 1, "a"), (2, 1, "b")], [(2, 0, "older"), (3, 1, "c"), (1, 2, "newer")]],
    # a tombstone inserted is stored, and not recorded as an insert
    "tombstones": [[(1, 1, "a", GONE), (2, 1, "b")]],
    # NULL keys match each other
    "null keys": [[(None, 1, "a"), (None, 2, "b"), (5, 1, "c")]],
}


def _batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    full = [r + (None,) * (len(SCHEMA) - len(r)) for r in rows]
    return pa.record_batch([pa.array([r[i] for r in full], f.type) for i, f in enumerate(SCHEMA)], schema=SCHEMA)


def _land(tmp_path: Path, batches: list[list[tuple[Any, ...]]], *, unrelated: bool,
          mode: SyncMode = SyncMode.INCREMENTAL_DEDUPED) -> tuple[list[Any], list[Any]]:
    """Each batch merged in a commit of its own; the table's rows and the diffs, minus the unrelated key."""
    spec = TableSpec(connection="c", stream="items", namespace="raw", table="items", schema=SCHEMA,
                     sync_mode=mode, primary_key=("id",), cursor_field="updated", record_diffs=True)
    dest = DuckDBDestination(DuckDBConfig(path="w.duckdb"), root=tmp_path)
    with dest:
        if unrelated:
            writer = dest.prepare(spec, "first")
            writer.write(_batch([UNRELATED]))
            writer.finish(None)
        writer = dest.prepare(spec, "s")
        for i, rows in enumerate(batches):
            # The stored unrelated key re-read unchanged in every batch: no merge takes the fast path.
            writer.write(_batch([*rows, UNRELATED] if unrelated else rows))
            writer.commit({"n": i})
        writer.finish({"n": len(batches)})
        diffs = dest.read_bookkeeping(DIFFS, "c", where={"sync_id": "s"}).to_pylist()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute(f"SELECT id, updated, name, {META_DELETED_AT} IS NOT NULL FROM raw.items "
                           f"WHERE id IS DISTINCT FROM {UNRELATED[0]}").fetchall()
    return (sorted(rows, key=repr),
            sorted(((d["change"], d["key"], d["fields"]) for d in diffs), key=repr))


@pytest.mark.parametrize("case", sorted(BATCHES))
def test_new_keys_land_and_diff_as_the_general_merge_does(tmp_path: Path, case: str) -> None:
    fast = _land(tmp_path / "fast", BATCHES[case], unrelated=False)
    general = _land(tmp_path / "general", BATCHES[case], unrelated=True)
    assert fast == general
    assert fast[0]  # something landed


def test_the_expected_rows_of_a_first_load(tmp_path: Path) -> None:
    rows, diffs = _land(tmp_path, BATCHES["duplicates in a batch"], unrelated=False)
    assert rows == [(1, 3, "b", False), (2, 5, "d", False), (3, 2, "e", False)]
    assert [d[0] for d in diffs] == ["inserted"] * 3
    rows, diffs = _land(tmp_path / "t", BATCHES["tombstones"], unrelated=False)
    assert rows == [(1, 1, "a", True), (2, 1, "b", False)]
    assert diffs == [("inserted", '{"id":2}', "[]")]


def test_a_commit_of_several_staged_files_merges_them_in_arrival_order(tmp_path: Path) -> None:
    # A batch of another schema starts a staged file of its own; a commit merges its files one
    # after the other, so among equal cursors the last row read still wins, as it does across commits.
    narrow = pa.schema(list(SCHEMA)[:3])
    spec = TableSpec(connection="c", stream="items", namespace="raw", table="items", schema=SCHEMA,
                     sync_mode=SyncMode.INCREMENTAL_DEDUPED, primary_key=("id",), cursor_field="updated")
    with DuckDBDestination(DuckDBConfig(path="w.duckdb"), root=tmp_path) as dest:
        writer = dest.prepare(spec, "s")
        writer.write(_batch([(1, 5, "a"), (2, 1, "x"), (1, 5, "b")]))
        writer.write(pa.record_batch([pa.array([1, 3]), pa.array([5, 1]), pa.array(["c", "y"])], schema=narrow))
        writer.write(_batch([(1, 5, "d"), (2, 1, "z")]))
        writer.commit({"n": 0})
        writer.write(_batch([(3, 1, "last")]))
        assert writer.finish({"n": 1}) == 3
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT id, name FROM raw.items ORDER BY id").fetchall() == [
            (1, "d"), (2, "z"), (3, "last")]


def test_a_full_refresh_of_several_staged_files_lands_every_row_in_order(tmp_path: Path) -> None:
    # Two schemas: two staged files, each streamed to DuckDB in one statement.
    spec = TableSpec(connection="c", stream="items", namespace="raw", table="items", schema=SCHEMA,
                     sync_mode=SyncMode.FULL_REFRESH_APPEND)
    narrow = pa.schema(list(SCHEMA)[:3])
    with DuckDBDestination(DuckDBConfig(path="w.duckdb"), root=tmp_path) as dest:
        writer = dest.prepare(spec, "s")
        for i in range(5):
            writer.write(_batch([(i * 2, i, "x"), (i * 2 + 1, i, "y")]))
        writer.write(pa.record_batch([pa.array([100]), pa.array([9]), pa.array(["narrow"])], schema=narrow))
        assert writer.finish(None) == 11
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT id), max(id) FROM raw.items").fetchone() == (11, 100)


def test_the_loading_connection_has_a_memory_limit_by_default(tmp_path: Path) -> None:
    with DuckDBDestination(DuckDBConfig(path="w.duckdb"), root=tmp_path) as dest:
        assert dest._warehouse is not None
        with dest._warehouse.reading() as cur:
            assert cur.execute("SELECT current_setting('memory_limit')").fetchone() == ("244.1 MiB",)
