"""The diff rules of a deduplicated merge on awkward rows, on every destination, driving the writer
directly (tests/conformance/test_meta_store.py covers the same rules through a whole sync).

Older cursors, re-reads, NULL and NaN, nested values, tombstones for unknown or already deleted
keys, keys coming back, NULL and composite text keys, columns the spec dropped or now types
differently; diffs rolled back with their merge; no diffs without `record_diffs` or outside
`incremental_deduped`; meta calls while a writer holds an uncommitted merge.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from protocol.bookkeeping import DIFFS, SYNC_LOGS
from protocol.types import META_DELETED_AT, SyncMode, TableSpec
from tests.conformance.conftest import Warehouse
from tests.support.diff_cases import T0, people_batch, people_spec

Diff = tuple[tuple[tuple[str, Any], ...], str, tuple[str, ...]]
"""(key as (column, value) pairs, change, changed fields): the key and field texts are JSON whose
spacing is each destination's own."""


def _person(i: int, updated: int, **values: Any) -> dict[str, Any]:
    return {"id": i, "name": f"p{i}", "score": 1.0, "tags": ["a"], "addr": {"city": "X"}, "updated": updated,
            **values}


def _sync(warehouse: Warehouse, sync_id: str, *batches: list[dict[str, Any]], spec: TableSpec | None = None) -> None:
    """One sync; each batch is merged by a commit of its own."""
    spec = spec or people_spec()
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, sync_id)
        for rows in batches:
            writer.write(people_batch(spec, sync_id, rows))
            writer.commit({"cursor": sync_id})
        writer.finish({"cursor": sync_id})


def _diffs(warehouse: Warehouse, sync_id: str) -> set[Diff]:
    with warehouse.destination() as dest:
        rows = dest.read_bookkeeping(DIFFS, "c", where={"sync_id": sync_id}).to_pylist()
    assert all(r["stream"] == "people" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(tuple(json.loads(r["key"]).items()), r["change"], tuple(json.loads(r["fields"]))) for r in rows}


def _key(i: int) -> tuple[tuple[str, Any], ...]:
    return (("id", i),)


def _people(warehouse: Warehouse) -> list[dict[str, Any]]:
    return sorted(warehouse.records("ns", "people") or [], key=lambda r: r["id"])


def test_diff_rules_on_awkward_rows(warehouse: Warehouse) -> None:
    _sync(warehouse, "s1", [_person(1, 1), _person(2, 1), _person(3, 1, score=None),
                            _person(4, 1, score=float("nan")), _person(5, 1),
                            _person(6, 1, **{META_DELETED_AT: T0})])
    assert _diffs(warehouse, "s1") == {(_key(i), "inserted", ()) for i in range(1, 6)}  # 6: a tombstone
    _sync(warehouse, "s2", [
        _person(1, 2, tags=["a", "b"], addr={"city": "Y"}),  # nested (list, struct) columns changed
        _person(2, 0, name="older"),                          # older cursor: the merge keeps the stored row
        _person(3, 1, score=None),                            # re-read: NULL vs NULL and
        _person(4, 1, score=float("nan")),                    # NaN vs NaN are no change
        _person(5, 2, name=None), _person(5, 3, name=None, score=2.0),  # latest cursor wins
        _person(6, 2),                                        # the soft-deleted row comes back
        _person(7, 2, **{META_DELETED_AT: T0}),               # tombstone for an unknown key
    ], [_person(1, 2, tags=["a", "b"], addr={"city": "Y"})])  # second merge of the sync: nothing new
    assert _diffs(warehouse, "s2") == {
        (_key(1), "updated", ("tags", "addr", "updated")),
        (_key(5), "updated", ("name", "score", "updated")),
        (_key(6), "inserted", ()),
    }
    _sync(warehouse, "s3", [_person(3, 3, score=3.0),         # NULL to a value
                            _person(5, 4, name=None, score=2.0, **{META_DELETED_AT: T0}),
                            _person(6, 3, **{META_DELETED_AT: T0}), _person(7, 3, **{META_DELETED_AT: T0})])
    assert _diffs(warehouse, "s3") == {(_key(3), "updated", ("score", "updated")),
                                       (_key(5), "deleted", ()), (_key(6), "deleted", ())}
    _sync(warehouse, "s4", [_person(5, 5, name=None, score=2.0, **{META_DELETED_AT: T0})])
    assert _diffs(warehouse, "s4") == set()  # already deleted
    _sync(warehouse, "s5", [_person(1, 9, tags=["a", "b"], addr={"city": "Y"})])
    assert _diffs(warehouse, "s5") == {(_key(1), "updated", ("updated",))}  # meta columns never count
    assert [r["name"] for r in _people(warehouse)] == ["p1", "p2", "p3", "p4", None, "p6", "p7"]


def test_composite_text_and_null_keys(warehouse: Warehouse) -> None:
    fields = [pa.field("org", pa.string()), pa.field("n", pa.int32()), pa.field("v", pa.string()),
              pa.field("updated", pa.int64())]
    spec = people_spec(fields, keys=("org", "n"))
    odd = "q\"uote\\back\nline é ' :x"
    _sync(warehouse, "s1", [{"org": odd, "n": 1, "v": "a", "updated": 1},
                            {"org": None, "n": None, "v": "a", "updated": 1}], spec=spec)
    _sync(warehouse, "s2", [{"org": odd, "n": 1, "v": "b", "updated": 2},
                            {"org": None, "n": None, "v": None, "updated": 2}], spec=spec)
    assert _diffs(warehouse, "s2") == {((("org", odd), ("n", 1)), "updated", ("v", "updated")),
                                       ((("org", None), ("n", None)), "updated", ("v", "updated"))}


def test_dropped_and_older_typed_columns(warehouse: Warehouse) -> None:
    wide = [pa.field("id", pa.int64()), pa.field("n", pa.int32()), pa.field("gone", pa.string()),
            pa.field("updated", pa.int64())]
    _sync(warehouse, "s1", [{"id": 1, "n": 1, "gone": "x", "updated": 1},
                            {"id": 2, "n": 2, "gone": None, "updated": 1}], spec=people_spec(wide))
    # The source dropped `gone` (the merge leaves it NULL) and now says int64 for the int32 `n`.
    narrow = [pa.field("id", pa.int64()), pa.field("n", pa.int64()), pa.field("updated", pa.int64())]
    _sync(warehouse, "s2", [{"id": 1, "n": 1, "updated": 1}, {"id": 2, "n": 3, "updated": 1}],
          spec=people_spec(narrow))
    assert _diffs(warehouse, "s2") == {(_key(1), "updated", ("gone",)), (_key(2), "updated", ("n",))}


def test_the_batches_of_one_commit_merge_as_one(warehouse: Warehouse) -> None:
    """What a commit covers merges at once: among equal cursors the last row read wins (within a
    commit and across two), and a key read in several batches of one commit gets one diff."""
    _sync(warehouse, "s1", [_person(1, 1), _person(2, 1)])
    spec = people_spec()
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "s2")
        for i in range(12):  # key 1 at one cursor in every batch, beside a new key
            writer.write(people_batch(spec, "s2", [_person(1, 5, name=f"v{i}"), _person(10 + i, 1)]))
        writer.write(people_batch(spec, "s2", [_person(2, 2, name="b")]))
        writer.write(people_batch(spec, "s2", [_person(2, 3, name="b")]))  # merged per batch: a 2nd diff
        writer.commit({"cursor": "a"})
        # The next commit, the same cursors: key 1 as last read before (no change), key 2 changed.
        writer.write(people_batch(spec, "s2", [_person(1, 5, name="v11"), _person(2, 3, name="c")]))
        writer.finish({"cursor": "b"})
    with warehouse.destination() as dest:
        rows = dest.read_bookkeeping(DIFFS, "c", where={"sync_id": "s2"}).to_pylist()
    assert sorted((json.loads(r["key"])["id"], r["change"], r["fields"].replace(" ", "")) for r in rows) == [
        (1, "updated", '["name","updated"]'),
        (2, "updated", '["name","updated"]'), (2, "updated", '["name"]'),  # one per commit
        *((10 + i, "inserted", "[]") for i in range(12))]
    people = {r["id"]: (r["name"], r["updated"]) for r in _people(warehouse)}
    assert (people[1], people[2], len(people)) == (("v11", 5), ("c", 3), 14)


def test_aborted_merge_leaves_no_diffs_and_no_flag_no_diffs(warehouse: Warehouse) -> None:
    spec = people_spec()
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))
        writer.commit({"cursor": 1})
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))
        with pytest.raises(TypeError):
            # The merge and its diff ran, then the state cannot be stored: finish rolls both back.
            writer.finish({"cursor": object()})
    assert _diffs(warehouse, "s1") == {(_key(1), "inserted", ())}
    assert [r["id"] for r in _people(warehouse)] == [1]
    _sync(warehouse, "s2", [_person(1, 3, name="y"), _person(9, 3)], spec=people_spec(record_diffs=False))
    assert _diffs(warehouse, "s2") == set()
    assert [r["name"] for r in _people(warehouse)] == ["y", "p9"]


def test_other_modes_ignore_the_flag(warehouse: Warehouse) -> None:
    for mode in (SyncMode.INCREMENTAL_APPEND, SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND):
        _sync(warehouse, "s1", [_person(1, 1)], spec=people_spec(mode=mode))
    assert _diffs(warehouse, "s1") == set()


def _logs(n: int) -> pa.Table:
    return pa.Table.from_pylist([
        {"connection": "a", "sync_id": "s", "seq": i, "at": T0 + timedelta(days=i), "level": "INFO",
         "event": None if i else "start", "stream": None, "message": "m", "data": None} for i in range(n)],
        schema=SYNC_LOGS.schema)


def test_meta_calls_while_a_writer_holds_an_open_merge(warehouse: Warehouse) -> None:
    spec = people_spec()
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))  # its merge and diff are not committed yet
        dest.append_bookkeeping(SYNC_LOGS, _logs(3))
        dest.append_bookkeeping(DIFFS, pa.Table.from_pylist([
            {"connection": "c", "stream": "old", "sync_id": "s0", "recorded_at": T0, "change": "inserted",
             "key": '{"id":0}', "fields": "[]"}], schema=DIFFS.schema))
        assert dest.read_bookkeeping(DIFFS, "c", where={"sync_id": "s1"}).num_rows == 0  # not visible yet
        assert dest.prune_history("diffs", "c", T0 + timedelta(days=1)) == 1
        assert dest.prune_history("sync_logs", "a", T0 + timedelta(days=1)) == 1
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))
        assert writer.finish({"cursor": 1}) == 2
        assert len(dest.read_bookkeeping(SYNC_LOGS, "a")) == 2
    assert _diffs(warehouse, "s1") == {(_key(1), "inserted", ()), (_key(2), "inserted", ())}
