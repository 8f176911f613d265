"""`_rooftop` bookkeeping on every destination: the generic meta tables (sync logs, properties),
retention pruning, and the row-level diffs a deduplicated merge records in its own transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.engine.runner import run_sync
from protocol.bookkeeping import DIFFS, PROPERTIES, SYNC_LOGS, WRITES
from protocol.types import SyncRecord
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _log_rows(connection: str, sync_id: str, n: int, start: datetime) -> pa.Table:
    return pa.Table.from_pylist([
        {"connection": connection, "sync_id": sync_id, "seq": i, "at": start + timedelta(minutes=i),
         "level": "INFO", "event": "http_request" if i % 2 else None, "stream": "units" if i else None,
         "message": f"message {i} ünïcode 'quoted'", "data": json.dumps({"i": i}) if i else None}
        for i in range(n)], schema=SYNC_LOGS.schema)


def _sorted(table: pa.Table, *keys: str) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: tuple(r[k] for k in keys))


def test_meta_tables_round_trip_filter_and_persist(warehouse: Warehouse) -> None:
    with warehouse.destination() as dest:
        for table in (SYNC_LOGS, PROPERTIES, DIFFS):
            empty = dest.read_bookkeeping(table, "a")
            assert empty.num_rows == 0 and empty.schema.names == table.schema.names
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("a", "s1", 3, T0))
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("a", "s2", 2, T0 + timedelta(days=1)))
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("b", "s3", 2, T0))
        dest.append_bookkeeping(PROPERTIES, pa.Table.from_pylist(
            [{"connection": "a", "property_id": "7", "name": "Elm Court", "first_seen_at": T0,
              "first_seen_sync_id": "s1"}], schema=PROPERTIES.schema))
    with warehouse.destination() as dest:  # reopened: the rows were committed
        logs = dest.read_bookkeeping(SYNC_LOGS, "a")
        one = dest.read_bookkeeping(SYNC_LOGS, "a", where={"sync_id": "s1"})
        props = dest.read_bookkeeping(PROPERTIES, "a")
        other = dest.read_bookkeeping(PROPERTIES, "b")
    assert logs.schema.names == SYNC_LOGS.schema.names
    assert len(logs) == 5 and {r["connection"] for r in logs.to_pylist()} == {"a"}
    assert _sorted(one, "seq") == _log_rows("a", "s1", 3, T0).to_pylist()
    assert props.to_pylist() == [{"connection": "a", "property_id": "7", "name": "Elm Court",
                                  "first_seen_at": T0, "first_seen_sync_id": "s1"}]
    assert other.num_rows == 0


def test_prune_meta_drops_only_old_rows_of_one_connection(warehouse: Warehouse) -> None:
    with warehouse.destination() as dest:
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("a", "old", 2, T0))
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("a", "new", 2, T0 + timedelta(days=10)))
        dest.append_bookkeeping(SYNC_LOGS, _log_rows("b", "old", 2, T0))
        for sync_id, started in (("old", T0), ("new", T0 + timedelta(days=10))):
            dest.record_sync(SyncRecord("a", "units", sync_id, started, finished_at=started, status="succeeded"))
        assert dest.prune_history("sync_logs", "a", T0 + timedelta(days=5)) == 2
        assert dest.prune_history("syncs", "a", T0 + timedelta(days=5)) == 1
        assert dest.prune_history("diffs", "a", T0 + timedelta(days=5)) == 0
    with warehouse.destination() as dest:
        assert {r["sync_id"] for r in dest.read_bookkeeping(SYNC_LOGS, "a").to_pylist()} == {"new"}
        assert len(dest.read_bookkeeping(SYNC_LOGS, "b")) == 2
        assert [r.sync_id for r in dest.recent_syncs("a")] == ["new"]


CONN = """\
name: diffs
source: {{connector: "tests.conformance.evolving_source:EvolvingSource", config: {{spec: spec.json, batch_rows: 2}}}}
destination: {dest}
streams: [{{name: tenants, sync_mode: incremental_deduped}}]
"""
COLUMNS = [["id", "int64"], ["name", "string"], ["rent", "decimal(12,2)"], ["updated", "int64"],
           ["deleted_at", "timestamp"]]


def _write_spec(root: Path, rows: list[dict[str, Any]]) -> None:
    spec = {"name": "tenants", "columns": COLUMNS, "primary_key": ["id"], "cursor": "updated",
            "deleted_field": "deleted_at", "rows": rows}
    (root / "spec.json").write_text(json.dumps({"namespace": "evo", "streams": [spec]}))


def _diffs(warehouse: Warehouse, sync_id: str) -> set[tuple[Any, str, tuple[str, ...]]]:
    with warehouse.destination() as dest:
        rows = dest.read_bookkeeping(DIFFS, "diffs", where={"sync_id": sync_id}).to_pylist()
    assert all(r["stream"] == "tenants" and r["recorded_at"].tzinfo is not None for r in rows)
    return {(json.loads(r["key"])["id"], r["change"], tuple(json.loads(r["fields"]))) for r in rows}


def _row(i: int, name: str, rent: str, updated: int, deleted: str | None = None) -> dict[str, Any]:
    return {"id": i, "name": name, "rent": rent, "updated": updated, "deleted_at": deleted}


def test_deduped_merge_records_exact_diffs(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = make_workspace(CONN.format(dest=warehouse.yaml()), name="diffs")
    base = [_row(1, "Ann", "100.00", 1), _row(2, "Bob", "200.00", 2), _row(3, "Cy", "300.00", 3),
            _row(4, "Di", "400.00", 4), _row(5, "Ed", "500.00", 5)]
    _write_spec(root, base)
    first = run_sync(connection(root, "diffs"))
    assert _diffs(warehouse, first.sync_id) == set()  # a first load: every key would read "inserted"

    changed = [
        base[3],                                            # id 4: older than the cursor, not re-read
        base[4],                                            # id 5: re-read at the cursor, unchanged
        _row(2, "Bobby", "200.00", 10),                     # name changed
        _row(3, "Cyrus", "333.00", 11),                     # name and rent changed
        _row(1, "Ann", "100.00", 12, "2026-01-02T00:00:00Z"),  # deleted at the source (tombstone)
        _row(6, "Flo", "600.00", 13),                       # new
    ]
    _write_spec(root, changed)
    second = run_sync(connection(root, "diffs"))
    assert _diffs(warehouse, second.sync_id) == {
        (2, "updated", ("name", "updated")),
        (3, "updated", ("name", "rent", "updated")),
        (1, "deleted", ()),
        (6, "inserted", ()),
    }
    third = run_sync(connection(root, "diffs"))  # nothing changed at the source
    assert _diffs(warehouse, third.sync_id) == set()
    rows = {r["id"]: r for r in warehouse.records("evo", "tenants") or []}
    assert rows[2]["name"] == "Bobby" and rows[1]["_rooftop_deleted_at"] is not None


def test_no_diffs_when_retention_is_zero(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = make_workspace(CONN.format(dest=warehouse.yaml()) + "retention: {diffs: 0 days}\n", name="diffs")
    _write_spec(root, [_row(1, "Ann", "100.00", 1)])
    result = run_sync(connection(root, "diffs"))
    assert _diffs(warehouse, result.sync_id) == set()


def test_meta_read_and_prune_edge_cases(warehouse: Warehouse) -> None:
    rows = pa.Table.from_pylist([
        {"connection": "a", "sync_id": "s", "seq": i, "at": T0 + timedelta(days=i), "level": "INFO",
         "event": None if i else "start", "stream": None, "message": "m", "data": None} for i in range(4)],
        schema=SYNC_LOGS.schema)
    with warehouse.destination() as dest:
        dest.append_bookkeeping(SYNC_LOGS, rows.select(["connection", "sync_id", "seq", "at", "level", "message"]))
        dest.append_bookkeeping(SYNC_LOGS, SYNC_LOGS.schema.empty_table())
        with pytest.raises(ValueError, match="required column 'message'"):
            dest.append_bookkeeping(SYNC_LOGS, rows.drop_columns(["message"]))
        with pytest.raises(ValueError, match="unknown column"):
            dest.append_bookkeeping(PROPERTIES, rows)
        assert [r["seq"] for r in dest.read_bookkeeping(SYNC_LOGS, "a", where={"seq": "2"}).to_pylist()] == [2]
        assert len(dest.read_bookkeeping(SYNC_LOGS, "a", where={"event": None})) == 4  # the select left them NULL
        with pytest.raises(ValueError, match="no column"):
            dest.read_bookkeeping(SYNC_LOGS, "a", where={'x" = 1 OR "1': "x"})
        with pytest.raises(ValueError, match="cannot prune"):
            dest.prune_history("properties", "a", T0)
        with pytest.raises(ValueError, match="cannot prune"):
            dest.prune_history("state", "a", T0)
        assert dest.prune_history("sync_logs", "a", datetime(2026, 1, 3)) == 2  # naive: UTC
        table = dest.read_bookkeeping(SYNC_LOGS, "a")
    assert table.schema == SYNC_LOGS.schema and [r["seq"] for r in table.to_pylist()] == [2, 3]


def test_write_jobs_round_trip_with_every_status_change(warehouse: Warehouse) -> None:
    """`_rooftop.writes` is append-only: each status change is a row, read back in time order."""
    steps = [("queued", 0), ("running", 0), ("succeeded", 2)]
    rows: list[dict[str, Any]] = [
        {"connection": "a", "write_id": "w1", "recorded_at": T0 + timedelta(seconds=i), "status": status,
         "resource": "residents", "operation": "update", "record_id": "3", "attempts": attempts,
         "ignored_fields": '["notes"]', "request": '{"payload": {"phone": "555"}}', "response": None, "error": None}
        for i, (status, attempts) in enumerate(steps)]
    with warehouse.destination() as dest:
        for row in rows:
            dest.append_bookkeeping(WRITES, pa.Table.from_pylist([row], schema=WRITES.schema))
    with warehouse.destination() as dest:
        found = dest.read_bookkeeping(WRITES, "a")
        done = dest.read_bookkeeping(WRITES, "a", where={"status": "succeeded"})
        other = dest.read_bookkeeping(WRITES, "b")
    assert found.to_pylist() == rows
    assert [r["attempts"] for r in done.to_pylist()] == [2]
    assert other.num_rows == 0
