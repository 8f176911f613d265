"""Parquet-specific parts of the `_rooftop` meta store: the crash consistency of a merge's diffs
(staged, committed by the manifest save, then published), no diff files without `record_diffs`,
key JSON for every value, and the file-level behaviour of append / read / prune. The diff rules
every destination shares are in tests/conformance/test_diff_rules.py; diffs across SIGKILLed syncs
in tests/conformance/test_crash_recovery.py."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from destinations.parquet import ParquetConfig, ParquetDestination, read_table
from destinations.parquet.bookkeeping import PENDING, DiffJournal
from destinations.parquet.diffs import key_json
from destinations.parquet.layout import Manifest
from protocol.bookkeeping import DIFFS, SYNC_LOGS
from protocol.types import META_DELETED_AT, TableSpec
from tests.support.diff_cases import T0, TS, people_batch, people_spec


def _dest(root: Path) -> ParquetDestination:
    return ParquetDestination(ParquetConfig(path="lake"), root=root)


def _person(i: int, updated: int, **values: Any) -> dict[str, Any]:
    return {"id": i, "name": f"p{i}", "score": 1.0, "tags": ["a"], "addr": {"city": "X"}, "updated": updated,
            **values}


def _sync(root: Path, sync_id: str, rows: list[dict[str, Any]], spec: TableSpec | None = None) -> None:
    spec = spec or people_spec()
    with _dest(root) as dest:
        writer = dest.prepare(spec, sync_id)
        writer.write(people_batch(spec, sync_id, rows))
        writer.finish({"cursor": sync_id})


def _diffs(root: Path, sync_id: str | None = None) -> set[tuple[str, str, tuple[str, ...]]]:
    with _dest(root) as dest:
        rows = dest.read_bookkeeping(DIFFS, "c", where={"sync_id": sync_id} if sync_id else None).to_pylist()
    assert all(r["stream"] == "people" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(r["key"], r["change"], tuple(json.loads(r["fields"]))) for r in rows}


def _diff_dir(root: Path) -> Path:
    return root / "lake" / "_rooftop" / "diffs" / "c"


BASE = [_person(1, 1), _person(2, 1), _person(3, 1, score=None), _person(4, 1, score=float("nan")),
        _person(5, 1), _person(6, 1, **{META_DELETED_AT: T0})]


def test_no_diffs_and_no_diff_files_without_record_diffs(tmp_path: Path) -> None:
    spec = people_spec(record_diffs=False)
    _sync(tmp_path, "s1", BASE, spec)
    _sync(tmp_path, "s2", [_person(1, 2, name="new")], spec)
    assert _diffs(tmp_path) == set()
    assert not _diff_dir(tmp_path).exists()
    assert Manifest.load(tmp_path / "lake" / "ns" / "people").diff_commits == {}  # type: ignore[union-attr]


class Crash(Exception):
    """Stands for the process dying at that point (the test then reopens the lake)."""


def test_crash_before_the_manifest_save_leaves_no_diffs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sync(tmp_path, "s1", BASE[:2])

    def crash(self: Manifest, directory: Path) -> None:
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(Manifest, "save", crash)
        with pytest.raises(Crash):
            _sync(tmp_path, "s2", [_person(1, 2, name="changed")])
    assert len(list((_diff_dir(tmp_path) / PENDING).glob("*.parquet"))) == 1  # staged, never committed
    assert _diffs(tmp_path, "s2") == set()
    table = read_table(tmp_path / "lake", "ns", "people")
    assert table is not None and set(table.column("name").to_pylist()) == {"p1", "p2"}
    _sync(tmp_path, "s3", [_person(1, 2, name="changed")])  # the retry: prepare discards the orphan
    assert list((_diff_dir(tmp_path) / PENDING).glob("*.parquet")) == []
    assert _diffs(tmp_path) == {('{"id": 1}', "inserted", ()), ('{"id": 2}', "inserted", ()),
                                ('{"id": 1}', "updated", ("name", "updated"))}


def test_crash_after_the_manifest_save_keeps_the_diffs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sync(tmp_path, "s1", BASE[:2])

    def crash(self: DiffJournal, connection: str, token: str) -> None:
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(DiffJournal, "publish", crash)
        with pytest.raises(Crash):
            _sync(tmp_path, "s2", [_person(1, 2, name="changed")])
    pending = list((_diff_dir(tmp_path) / PENDING).glob("*.parquet"))
    assert len(pending) == 1
    expected = {('{"id": 1}', "updated", ("name", "updated"))}
    assert _diffs(tmp_path, "s2") == expected  # committed with the merge, visible though still pending
    # A reader that saw the pending file just before it was published must not count it twice.
    final = _diff_dir(tmp_path) / f"{1:020d}-{pending[0].stem}.parquet"
    shutil.copy(pending[0], final)
    with _dest(tmp_path) as dest:
        assert len(dest.read_bookkeeping(DIFFS, "c", where={"sync_id": "s2"})) == 1
    final.unlink()
    with _dest(tmp_path) as dest:
        dest.prepare(people_spec(), "s3").abort()  # the next writer of the stream publishes it
    assert list((_diff_dir(tmp_path) / PENDING).glob("*.parquet")) == []
    assert _diffs(tmp_path, "s2") == expected


def test_meta_files_split_by_connection_skip_temps_and_prune_partially(tmp_path: Path) -> None:
    rows = pa.Table.from_pylist([
        {"connection": conn, "sync_id": "s", "seq": i, "at": T0 + timedelta(days=i), "level": "INFO",
         "message": "m"} for conn in ("a", "b") for i in range(4)], schema=SYNC_LOGS.schema)
    with _dest(tmp_path) as dest:
        dest.append_bookkeeping(SYNC_LOGS, rows)
        folder = tmp_path / "lake" / "_rooftop" / "sync_logs"
        assert sorted(p.name for p in folder.iterdir()) == ["a", "b"]
        (folder / "a" / ".junk.parquet.1.tmp").write_bytes(b"half a file")  # a crashed append
        assert [r["seq"] for r in dest.read_bookkeeping(SYNC_LOGS, "a", where={"seq": "2"}).to_pylist()] == [2]
        with pytest.raises(ValueError, match="no column"):
            dest.read_bookkeeping(SYNC_LOGS, "a", where={"nope": "x"})
        with pytest.raises(ValueError, match="cannot prune"):
            dest.prune_history("properties", "a", T0)
        assert dest.prune_history("sync_logs", "a", T0 + timedelta(days=2)) == 2  # one file, half rewritten
        assert [r["seq"] for r in dest.read_bookkeeping(SYNC_LOGS, "a").to_pylist()] == [2, 3]
        assert len(dest.read_bookkeeping(SYNC_LOGS, "b")) == 4
        assert dest.prune_history("sync_logs", "a", T0 + timedelta(days=9)) == 2
        assert list((folder / "a").glob("*.parquet")) == []
        table = dest.read_bookkeeping(SYNC_LOGS, "a")
    assert table.num_rows == 0 and table.schema == SYNC_LOGS.schema
    assert os.path.exists(folder / "a" / ".junk.parquet.1.tmp")  # fresh: could be a live writer's
    assert pq.read_table(next((folder / "b").glob("*.parquet"))).schema.field("at").type == TS


def test_key_json_is_valid_json_for_every_value() -> None:
    keys = pa.table({"org": ['a"b\\c é/', None, "plain"], "n": pa.array([1, None, -3], pa.int16()),
                     "ok": [True, None, False]})
    texts = key_json(keys).to_pylist()
    assert texts[0] == '{"org": "a\\"b\\\\c é/", "n": 1, "ok": true}'
    assert [json.loads(t) for t in texts] == keys.to_pylist()
    odd = pa.table({"d": pa.array([Decimal("2"), Decimal("2.5")], pa.decimal128(5, 1)), "s": ["\t", "x"]})
    assert [json.loads(t) for t in key_json(odd).to_pylist()] == [{"d": 2, "s": "\t"}, {"d": 2.5, "s": "x"}]
