"""The `files` source with real files on disk: CSV, JSON Lines and Parquet, plain and compressed,
schemas, incremental syncs by file modification time, and dirty values."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.files import FilesConfig, FilesSource
from pipelines.engine.runner import run_sync
from tests.conftest import WorkspaceFactory, connection
from tests.warehouse_checks import rows

CSV = "id,status,rent,moved_in\n1,Current,1200.50,2024-01-05\n2,\"Past, long ago\",900,2023-06-01\n3,,,\n"


def _touch(path: Path, seconds: int) -> None:
    """Set an mtime explicitly: tests must not depend on the clock's resolution."""
    stamp = 1_700_000_000 + seconds
    os.utime(path, (stamp, stamp))


def _write_jsonl_zst(path: Path, records: list[dict[str, object]]) -> None:
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))


def test_discovery_of_each_format(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    _write_jsonl_zst(data / "e.jsonl.zst", [{"id": 1, "kind": "x", "at": "2024-01-01T00:00:00Z",
                                            "tags": ["a"], "unit": {"no": 4}}])
    pq.write_table(pa.table({"id": pa.array([1], pa.int32()),
                             "amount": pa.array([Decimal("1.10")], pa.decimal128(8, 2))}), data / "p.parquet")
    config = FilesConfig.model_validate({"streams": [
        {"name": "leases", "path": "data/*.csv.gz", "primary_key": "id", "columns": {"rent": "decimal(12,2)"}},
        {"name": "events", "path": "data/*.jsonl.zst"},
        {"name": "pay", "path": "data/p.parquet"}]})
    with FilesSource(config, root=tmp_path) as source:
        source.check()
        catalog = source.discover()
    leases, events, pay = catalog.streams
    assert leases.schema.field("rent").type == pa.decimal128(12, 2) and leases.primary_key == ("id",)
    assert leases.schema.field("id").type == pa.int64() and leases.schema.field("moved_in").type == pa.date32()
    assert leases.default_cursor == "_file_modified_at"
    assert leases.schema.names[-2:] == ["_file_path", "_file_modified_at"]
    assert events.schema.field("unit").type == pa.struct([("no", pa.int64())])
    assert pay.schema.field("amount").type == pa.decimal128(8, 2)
    bad = FilesConfig.model_validate({"streams": [{"name": "x", "path": "missing/*.csv"}]})
    with FilesSource(bad, root=tmp_path) as source, pytest.raises(Exception, match="does not exist"):
        source.check()


def test_sync_every_format_and_incremental_by_file(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace("""\
        name: files
        source:
          connector: files
          config:
            streams:
              - {name: leases, path: "in/leases/*.csv*", primary_key: id, columns: {rent: "decimal(12,2)"}}
              - {name: events, path: "in/events/**/*.jsonl*"}
              - {name: pay, path: "in/pay/*.parquet"}
        destination: {connector: duckdb, config: {path: wh.duckdb}}
        streams:
          - {name: leases, sync_mode: incremental_deduped}
          - {name: events, sync_mode: incremental_append}
          - {name: pay, sync_mode: incremental_append}
    """, name="files")
    for sub in ("in/leases", "in/events/2024", "in/pay"):
        (root / sub).mkdir(parents=True)
    (root / "in/leases/a.csv").write_text(CSV)
    _touch(root / "in/leases/a.csv", 1)
    _write_jsonl_zst(root / "in/events/2024/e1.jsonl.zst", [{"id": i, "kind": "k"} for i in range(5)])
    _touch(root / "in/events/2024/e1.jsonl.zst", 1)
    pq.write_table(pa.table({"id": list(range(100)), "v": [1.5] * 100}), root / "in/pay/p1.parquet")
    _touch(root / "in/pay/p1.parquet", 1)
    run_sync(connection(root, "files"))
    db = root / "wh.duckdb"
    assert rows(db, "SELECT id, status, rent, moved_in FROM files.leases ORDER BY id") == [
        (1, "Current", Decimal("1200.50"), datetime(2024, 1, 5).date()),
        (2, "Past, long ago", Decimal("900.00"), datetime(2023, 6, 1).date()),
        (3, None, None, None)]
    assert rows(db, "SELECT count(*) FROM files.events") == [(5,)]
    assert rows(db, "SELECT count(*), sum(v) FROM files.pay") == [(100, 150.0)]
    assert rows(db, "SELECT DISTINCT _file_path FROM files.leases") == [("in/leases/a.csv",)]

    # A new gzip file with a newer version of id 1; an unchanged file is not read again.
    (root / "in/leases/b.csv.gz").write_bytes(gzip.compress(b"id,status,rent,moved_in\n1,Notice,1300,2024-01-05\n"))
    _touch(root / "in/leases/b.csv.gz", 2)
    result = run_sync(connection(root, "files"))
    read = {s.stream: s.rows_read for s in result.streams}
    assert read == {"leases": 1, "events": 0, "pay": 0}
    assert rows(db, "SELECT status, rent FROM files.leases WHERE id = 1") == [("Notice", Decimal("1300.00"))]
    # Rewriting a file (new mtime) reads it again, whole.
    _touch(root / "in/events/2024/e1.jsonl.zst", 3)
    result = run_sync(connection(root, "files"))
    assert {s.stream: s.rows_read for s in result.streams}["events"] == 5
    state = json.loads(rows(db, "SELECT CAST(state AS VARCHAR) FROM _rooftop.state WHERE stream = 'leases'")[0][0])
    assert set(state["files"]) == {"in/leases/a.csv", "in/leases/b.csv.gz"}
    assert state["cursor"] == datetime.fromtimestamp(1_700_000_002, tz=UTC).isoformat()


def test_dirty_values_are_nulled_and_recorded(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace("""\
        name: dirty
        source: {connector: files, config: {streams: [{name: t, path: "t.csv", columns: {n: int64, d: date}}]}}
        destination: {connector: duckdb, config: {path: wh.duckdb}}
        streams: [{name: t, sync_mode: full_refresh_overwrite}]
    """, name="dirty")
    (root / "t.csv").write_text("n,d\n1,2024-01-01\nlots,2024-02-30\n3,\n")
    result = run_sync(connection(root, "dirty"))
    got = rows(root / "wh.duckdb", "SELECT n, d, _rooftop_meta FROM files.t ORDER BY n NULLS LAST")
    assert [g[:2] for g in got] == [(1, datetime(2024, 1, 1).date()), (3, None), (None, None)]
    errors = {e["field"]: e["value"] for e in json.loads(got[2][2])["errors"]}
    assert errors == {"n": "lots", "d": "2024-02-30"}
    assert result.streams[0].error_count == 2


def test_schema_change_in_newer_files_propagates(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace("""\
        name: evo
        source: {connector: files, config: {streams: [{name: t, path: "d/*.csv"}]}}
        destination: {connector: duckdb, config: {path: wh.duckdb}}
        streams: [{name: t, sync_mode: incremental_append}]
    """, name="evo")
    (root / "d").mkdir()
    (root / "d/1.csv").write_text("id,score\n1,5\n")
    _touch(root / "d/1.csv", 1)
    run_sync(connection(root, "evo"))
    (root / "d/2.csv").write_text("id,score,comment\n2,7.5,late\n")  # score widens, comment is new
    _touch(root / "d/2.csv", 2)
    run_sync(connection(root, "evo"))
    db = root / "wh.duckdb"
    assert rows(db, "SELECT id, score, comment FROM files.t ORDER BY id") == [(1, 5.0, None), (2, 7.5, "late")]
    assert rows(db, "SELECT data_type FROM information_schema.columns WHERE table_name = 't' "
                    "AND column_name = 'score'") == [("DOUBLE",)]


def test_discovery_survives_mixed_json_types_and_a_damaged_newest_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    mixed = [{"id": 1, "qty": 5, "at": "2024-01-01T00:00:00Z", "unit": {"no": 1}},
             {"id": 2, "qty": "7.5", "at": 17, "unit": "4B"}, {"id": 3, "qty": 2.5, "note": "x"}]
    (tmp_path / "d/a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mixed))
    _touch(tmp_path / "d/a.jsonl", 1)
    whole = gzip.compress(b'{"id": 1, "other": true}\n' * 5000)
    (tmp_path / "d/b.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # newest, and truncated
    _touch(tmp_path / "d/b.jsonl.gz", 2)
    config = FilesConfig.model_validate({"streams": [{"name": "t", "path": "d/*.jsonl*"}]})
    with FilesSource(config, root=tmp_path) as source:
        (stream,) = source.discover().streams
    # Each column keeps its first JSON type (numbers widen); the engine nulls the misfits.
    types = {f.name: f.type for f in stream.schema}
    assert types["id"] == pa.int64() and types["qty"] == pa.float64() and types["note"] == pa.string()
    assert pa.types.is_timestamp(types["at"]) and types["unit"] == pa.struct([("no", pa.int64())])
