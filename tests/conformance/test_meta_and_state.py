"""Meta columns, state round-trips, the sync log and hostile identifiers, on every destination."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.engine.runner import run_sync
from protocol.types import SyncMode, TableSpec
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection

CONN = """\
name: meta
source: {{connector: "tests.conformance.evolving_source:EvolvingSource", config: {{spec: spec.json, batch_rows: 2}}}}
destination: {dest}
streams: [{{name: {stream}, sync_mode: {mode}}}]
"""
COLUMNS = [["id", "int64"], ["amount", "decimal(12,2)"], ["at", "timestamp"], ["updated", "int64"]]
ROWS = [{"id": 1, "amount": 1.5, "at": "2024-01-02T03:04:05Z", "updated": 1},
        {"id": 2, "amount": "N/A", "at": "not a time", "updated": 2},
        {"id": 3, "amount": 3, "at": None, "updated": 3}]


def _workspace(make_workspace: WorkspaceFactory, warehouse: Warehouse, *, stream: str = "items",
               mode: str = "incremental_append", extra_state: dict[str, Any] | None = None) -> Path:
    root = make_workspace(CONN.format(dest=warehouse.yaml(), stream=json.dumps(stream), mode=mode), name="meta")
    spec = {"name": stream, "columns": COLUMNS, "primary_key": ["id"], "cursor": "updated", "rows": ROWS,
            "extra_state": extra_state or {}}
    (root / "spec.json").write_text(json.dumps({"namespace": "evo", "streams": [spec]}))
    return root


def test_meta_columns_and_recorded_data_errors(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = _workspace(make_workspace, warehouse)
    before = datetime.now(UTC)
    result = run_sync(connection(root, "meta"))
    rows = {r["id"]: r for r in warehouse.records("evo", "items") or []}
    assert {"_rooftop_extracted_at", "_rooftop_sync_id", "_rooftop_meta"} <= set(rows[1])
    assert {r["_rooftop_sync_id"] for r in rows.values()} == {result.sync_id}
    assert all(r["_rooftop_extracted_at"] >= before.replace(microsecond=0) for r in rows.values())
    assert rows[1]["_rooftop_meta"] is None and str(rows[1]["amount"]) == "1.50"
    assert rows[1]["at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    errors = {e["field"]: e["value"] for e in json.loads(rows[2]["_rooftop_meta"])["errors"]}
    assert errors == {"amount": "N/A", "at": "not a time"}
    assert rows[2]["amount"] is None and rows[2]["at"] is None
    assert result.streams[0].error_count == 2
    (record,) = warehouse.syncs("meta")
    assert (record.status, record.rows_written, record.error_count) == ("succeeded", 3, 2)
    assert record.extra["cursor"] == 3


def test_state_round_trips_exactly(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    odd = {"files": {"dir/ünïcode \"quoted\".csv": 1_700_000_000_123_456_789}, "nested": [1, {"a": None}],
           "flag": True, "ratio": 0.1}
    root = _workspace(make_workspace, warehouse, extra_state=odd)
    run_sync(connection(root, "meta"))
    assert warehouse.state("meta") == {"items": {"cursor": 3, **odd, "_version": 1}}  # stored with its version
    # The saved state is what the next sync resumes from: only the boundary row comes back.
    result = run_sync(connection(root, "meta"))
    assert result.streams[0].rows_read == 1
    assert len(warehouse.records("evo", "items") or []) == 3  # the re-read boundary row is not stored twice


def test_state_is_written_with_the_rows_it_covers(warehouse: Warehouse) -> None:
    """An uncommitted writer leaves neither its rows nor its state; a commit makes both visible."""
    schema = pa.schema([("id", pa.int64()), ("updated", pa.int64())])
    spec = TableSpec(connection="c", stream="s", namespace="raw", table="t", schema=schema,
                     sync_mode=SyncMode.INCREMENTAL_APPEND, primary_key=("id",), cursor_field="updated")
    batch = pa.record_batch([pa.array([1, 2]), pa.array([1, 2])], schema=schema)
    with warehouse.destination() as dest:
        writer = dest.prepare(spec, "sync-1")
        writer.write(batch)
        writer.abort()
        assert dest.read_state("c") == {} and not dest.table_stats("raw", "t")
        writer = dest.prepare(spec, "sync-2")
        writer.write(batch)
        writer.commit({"cursor": 2})
        assert dest.read_state("c") == {"s": {"cursor": 2}} and dest.table_stats("raw", "t") == 2
        writer.write(pa.record_batch([pa.array([3]), pa.array([3])], schema=schema))
        writer.abort()
        assert dest.read_state("c") == {"s": {"cursor": 2}} and dest.table_stats("raw", "t") == 2


@pytest.mark.parametrize("mode", ["full_refresh_overwrite", "incremental_deduped"])
def test_hostile_stream_name_is_just_a_name(make_workspace: WorkspaceFactory, warehouse: Warehouse,
                                            mode: str) -> None:
    name = 'x"; drop table y; --'
    root = _workspace(make_workspace, warehouse, stream=name, mode=mode)
    with warehouse.destination() as dest:  # a table `y` that the name must not harm
        spec = TableSpec(connection="other", stream="y", namespace="evo", table="y",
                         schema=pa.schema([("v", pa.int64())]),
                         sync_mode=SyncMode.FULL_REFRESH_APPEND)
        writer = dest.prepare(spec, "s0")
        writer.write(pa.record_batch([[7]], names=["v"]))
        writer.finish(None)
    run_sync(connection(root, "meta"))
    run_sync(connection(root, "meta"))
    assert sorted(r["id"] for r in warehouse.records("evo", name) or []) == [1, 2, 3]
    assert warehouse.records("evo", "y") == [{"v": 7}]
    assert (name in warehouse.state("meta")) == (mode == "incremental_deduped")


def test_duplicate_keys_are_counted(warehouse: Warehouse) -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.string())])
    spec = TableSpec(connection="c", stream="d", namespace="raw", table="dups", schema=schema,
                     sync_mode=SyncMode.FULL_REFRESH_APPEND)
    rows = [(1, "x"), (1, "x"), (1, "y"), (2, None), (2, None), (3, "z")]
    with warehouse.destination() as dest:
        assert dest.count_duplicate_keys("raw", "dups", ("a",)) == 0  # no table yet
        writer = dest.prepare(spec, "s")
        writer.write(pa.record_batch([pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows])], schema=schema))
        writer.finish(None)
        assert dest.count_duplicate_keys("raw", "dups", ("a",)) == 2
        assert dest.count_duplicate_keys("raw", "dups", ("a", "b")) == 2  # (1, x) and (2, NULL)
