"""Postgres-specific parts of the `_rooftop` meta store that the conformance suite does not reach:
the diff rules on awkward rows (older cursors, tombstones for unknown or deleted keys, keys coming
back, NULL and composite keys, columns the spec dropped, columns of an older type), diffs rolled
back with their merge, no diffs without `record_diffs`, read/prune edge cases, and opening a
destination while another session is inserting diffs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from destinations.postgres import PostgresConfig, PostgresDestination
from protocol.bookkeeping import DIFFS
from protocol.types import META_DELETED_AT, TableSpec
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures
from tests.support.diff_cases import T0, people_batch, people_spec


def _dest(url: str, root: Path) -> PostgresDestination:
    return PostgresDestination(PostgresConfig(url=url), root=root)


def _person(i: int, updated: int, **values: Any) -> dict[str, Any]:
    return {"id": i, "name": f"p{i}", "score": 1.0, "tags": ["a"], "updated": updated, **values}


def _sync(url: str, root: Path, sync_id: str, *batches: list[dict[str, Any]], spec: TableSpec | None = None) -> None:
    """One sync; each batch is merged by its own commit."""
    spec = spec or people_spec()
    with _dest(url, root) as dest:
        writer = dest.prepare(spec, sync_id)
        for rows in batches:
            writer.write(people_batch(spec, sync_id, rows))
            writer.commit({"cursor": sync_id})
        writer.finish({"cursor": sync_id})


def _diffs(url: str, root: Path, sync_id: str) -> set[tuple[str, str, str]]:
    with _dest(url, root) as dest:
        rows = dest.read_meta(DIFFS, "c", where={"sync_id": sync_id}).to_pylist()
    assert all(r["stream"] == "people" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(r["key"], r["change"], r["fields"]) for r in rows}


def _pg(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)


def test_diff_rules(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url
    _sync(url, tmp_path, "s1", [_person(1, 1), _person(2, 1), _person(3, 1, score=None),
                                _person(4, 1, score=float("nan")), _person(5, 1),
                                _person(6, 1, **{META_DELETED_AT: T0})])
    assert _diffs(url, tmp_path, "s1") == {(f'{{"id" : {i}}}', "inserted", "[]") for i in range(1, 6)}
    _sync(url, tmp_path, "s2", [
        _person(1, 2, tags=["a", "b"]),                      # a nested (jsonb) column changed
        _person(2, 0, name="older"),                          # older cursor: the MERGE keeps the stored row
        _person(3, 1, score=None),                            # re-read: NULL vs NULL and
        _person(4, 1, score=float("nan")),                    # NaN vs NaN are no change
        _person(5, 2, name=None), _person(5, 3, name=None, score=2.0),  # latest cursor wins
        _person(6, 2),                                        # the soft-deleted row comes back
        _person(7, 2, **{META_DELETED_AT: T0}),               # tombstone for an unknown key
    ], [_person(1, 2, tags=["a", "b"])])                      # second merge of the sync: nothing new
    assert _diffs(url, tmp_path, "s2") == {
        ('{"id" : 1}', "updated", '["tags","updated"]'),
        ('{"id" : 5}', "updated", '["name","score","updated"]'),
        ('{"id" : 6}', "inserted", "[]"),
    }
    _sync(url, tmp_path, "s3", [_person(5, 4, name=None, score=2.0, **{META_DELETED_AT: T0}),
                                _person(6, 3, **{META_DELETED_AT: T0}), _person(7, 3, **{META_DELETED_AT: T0})])
    assert _diffs(url, tmp_path, "s3") == {('{"id" : 5}', "deleted", "[]"), ('{"id" : 6}', "deleted", "[]")}
    _sync(url, tmp_path, "s4", [_person(5, 5, name=None, score=2.0, **{META_DELETED_AT: T0})])
    assert _diffs(url, tmp_path, "s4") == set()  # already deleted
    _sync(url, tmp_path, "s5", [_person(1, 9, tags=["a", "b"])])
    assert _diffs(url, tmp_path, "s5") == {('{"id" : 1}', "updated", '["updated"]')}  # meta columns never count


def test_composite_text_and_null_keys(postgres_url: str, tmp_path: Path) -> None:
    fields = [pa.field("org", pa.string()), pa.field("n", pa.int32()), pa.field("v", pa.string()),
              pa.field("updated", pa.int64())]
    spec = people_spec(fields, keys=("org", "n"))
    odd = "q\"uote\\back\nline é ' :x"
    _sync(postgres_url, tmp_path, "s1", [{"org": odd, "n": 1, "v": "a", "updated": 1},
                                         {"org": None, "n": None, "v": "a", "updated": 1}], spec=spec)
    _sync(postgres_url, tmp_path, "s2", [{"org": odd, "n": 1, "v": "b", "updated": 2},
                                         {"org": None, "n": None, "v": None, "updated": 2}], spec=spec)
    found = {(tuple(json.loads(key).items()), change, fields)
             for key, change, fields in _diffs(postgres_url, tmp_path, "s2")}
    assert found == {((("org", odd), ("n", 1)), "updated", '["v","updated"]'),
                     ((("org", None), ("n", None)), "updated", '["v","updated"]')}


def test_dropped_and_older_typed_columns(postgres_url: str, tmp_path: Path) -> None:
    wide = [pa.field("id", pa.int64()), pa.field("n", pa.int32()), pa.field("gone", pa.string()),
            pa.field("updated", pa.int64())]
    _sync(postgres_url, tmp_path, "s1", [{"id": 1, "n": 1, "gone": "x", "updated": 1},
                                         {"id": 2, "n": 2, "gone": None, "updated": 1}], spec=people_spec(wide))
    # The source dropped `gone` (the MERGE sets it to NULL) and now says bigint for the integer `n`.
    narrow = [pa.field("id", pa.int64()), pa.field("n", pa.int64()), pa.field("updated", pa.int64())]
    _sync(postgres_url, tmp_path, "s2", [{"id": 1, "n": 1, "updated": 1}, {"id": 2, "n": 3, "updated": 1}],
          spec=people_spec(narrow))
    assert _diffs(postgres_url, tmp_path, "s2") == {('{"id" : 1}', "updated", '["gone"]'),
                                                    ('{"id" : 2}', "updated", '["n"]')}


def test_aborted_merge_leaves_no_diffs_and_no_flag_no_diffs(postgres_url: str, tmp_path: Path) -> None:
    spec = people_spec()
    with _dest(postgres_url, tmp_path) as dest:
        writer = dest.prepare(spec, "s1")
        writer.write(people_batch(spec, "s1", [_person(1, 1)]))
        writer.commit({"cursor": 1})
        writer.write(people_batch(spec, "s1", [_person(2, 1)]))
        with pytest.raises(TypeError):
            # The MERGE and its diff run, then the state cannot be stored: finish rolls both back.
            writer.finish({"cursor": object()})
    assert _diffs(postgres_url, tmp_path, "s1") == {('{"id" : 1}', "inserted", "[]")}
    assert [r["id"] for r in _rows(postgres_url)] == [1]
    _sync(postgres_url, tmp_path, "s2", [_person(1, 3, name="y"), _person(9, 3)], spec=people_spec(record_diffs=False))
    assert _diffs(postgres_url, tmp_path, "s2") == set()
    assert [r["name"] for r in _rows(postgres_url)] == ["y", "p9"]


def _rows(url: str) -> list[dict[str, Any]]:
    with _pg(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM ns.people ORDER BY id").fetchall()




def test_open_does_not_wait_for_a_session_inserting_diffs(postgres_url: str, tmp_path: Path) -> None:
    with _dest(postgres_url, tmp_path):
        pass  # creates the meta tables
    with _pg(postgres_url) as other:
        other.execute("INSERT INTO _rooftop.diffs VALUES ('x', 's', 'i', now(), 'inserted', '{}', '[]')")
        opened = threading.Event()

        def open_destination() -> None:
            with _dest(postgres_url, tmp_path):
                opened.set()

        thread = threading.Thread(target=open_destination, daemon=True)
        thread.start()
        try:
            assert opened.wait(20), "opening the destination waited for another session's open transaction"
        finally:
            other.rollback()
            thread.join(20)
