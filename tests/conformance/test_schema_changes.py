"""`schema_changes: propagate | ignore | fail` on every destination, with a source whose live
schema the test rewrites between syncs (new, widened, incompatible and removed columns, and the
breaking cases: a removed cursor or primary key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.engine.runner import run_sync
from pipelines.engine.schema_changes import SchemaChangeError
from protocol.errors import ConfigError, SyncFailed
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection

CONN = """\
name: evo
source: {{connector: "tests.conformance.evolving_source:EvolvingSource", config: {{spec: spec.json}}}}
destination: {dest}
schema_changes: {policy}
streams: [{{name: items, sync_mode: {mode}}}]
"""
V1 = [["id", "int32"], ["name", "string"], ["amount", "int32"], ["updated", "int64"]]


def _spec(root: Path, columns: list[list[str]], rows: list[dict[str, Any]], *, pk: list[str] | None = None,
          cursor: str | None = "updated") -> None:
    stream = {"name": "items", "columns": columns, "primary_key": ["id"] if pk is None else pk,
              "cursor": cursor, "rows": rows}
    (root / "spec.json").write_text(json.dumps({"namespace": "evo", "streams": [stream]}))


def _setup(make_workspace: WorkspaceFactory, warehouse: Warehouse, policy: str,
           mode: str = "incremental_deduped") -> Path:
    root = make_workspace(CONN.format(dest=warehouse.yaml(), policy=policy, mode=mode), name="evo")
    _spec(root, V1, [{"id": i, "name": f"n{i}", "amount": i * 10, "updated": i} for i in (1, 2)])
    run_sync(connection(root, "evo"))
    return root


def _rows(warehouse: Warehouse) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in warehouse.records("evo", "items") or []}


def test_propagate_adds_widens_and_keeps_removed_columns(make_workspace: WorkspaceFactory,
                                                         warehouse: Warehouse) -> None:
    root = _setup(make_workspace, warehouse, "propagate")
    # amount int32 → int64 (a value past int32), `name` removed, `note` new.
    v2 = [["id", "int32"], ["amount", "int64"], ["note", "string"], ["updated", "int64"]]
    _spec(root, v2, [{"id": 3, "amount": 2**40, "note": "hi", "updated": 3},
                     {"id": 2, "amount": 21, "note": "upd", "updated": 3}])
    run_sync(connection(root, "evo"))
    rows = _rows(warehouse)
    assert (rows[2]["name"], rows[2]["note"], rows[2]["amount"]) == (None, "upd", 21)  # a new version
    assert rows[3]["amount"] == 2**40 and rows[3]["note"] == "hi" and rows[3]["name"] is None
    assert rows[1]["name"] == "n1" and rows[1]["note"] is None and rows[1]["amount"] == 10
    assert {"name", "note", "amount"} <= set(warehouse.columns("evo", "items") or [])
    # int → double → varchar, one sync each; stored values keep their meaning.
    _spec(root, v2, [{"id": 4, "amount": 2.5, "note": None, "updated": 4}])
    _spec_types = [["id", "int32"], ["amount", "float64"], ["note", "string"], ["updated", "int64"]]
    _spec(root, _spec_types, [{"id": 4, "amount": 2.5, "note": None, "updated": 4}])
    run_sync(connection(root, "evo"))
    assert _rows(warehouse)[4]["amount"] == 2.5 and float(_rows(warehouse)[1]["amount"]) == 10.0
    _spec(root, [["id", "int32"], ["amount", "string"], ["updated", "int64"]],
          [{"id": 5, "amount": "n/a", "updated": 5}])
    run_sync(connection(root, "evo"))
    rows = _rows(warehouse)
    assert rows[5]["amount"] == "n/a" and float(rows[4]["amount"]) == 2.5
    assert all(r["_rooftop_meta"] is None for r in rows.values())


def test_incompatible_values_are_nulled_and_recorded(make_workspace: WorkspaceFactory,
                                                     warehouse: Warehouse) -> None:
    root = _setup(make_workspace, warehouse, "propagate")
    # A date arriving for an integer column: no type holds both, the column keeps its type.
    _spec(root, [["id", "int32"], ["name", "string"], ["amount", "date"], ["updated", "int64"]],
          [{"id": 3, "name": "x", "amount": "2024-05-01", "updated": 3}])
    result = run_sync(connection(root, "evo"))
    row = _rows(warehouse)[3]
    assert row["amount"] is None and row["name"] == "x"
    errors = json.loads(row["_rooftop_meta"])["errors"]
    assert errors[0]["field"] == "amount" and errors[0]["value"] == "2024-05-01"
    assert result.streams[0].error_count == 1


def test_ignore_leaves_the_table_as_it_is(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = _setup(make_workspace, warehouse, "ignore")
    before = warehouse.columns("evo", "items")
    _spec(root, [*V1[:2], ["amount", "string"], V1[3], ["note", "string"]],
          [{"id": 3, "name": "c", "amount": "12", "note": "new", "updated": 3},
           {"id": 4, "name": "d", "amount": "lots", "note": "new", "updated": 4}])
    run_sync(connection(root, "evo"))
    assert warehouse.columns("evo", "items") == before  # no column added, none widened
    rows = _rows(warehouse)
    assert rows[3]["amount"] == 12 and "note" not in rows[3]
    assert rows[4]["amount"] is None and "lots" in rows[4]["_rooftop_meta"]


def test_fail_stops_before_writing_and_lists_every_change(make_workspace: WorkspaceFactory,
                                                          warehouse: Warehouse) -> None:
    root = _setup(make_workspace, warehouse, "fail")
    before = _rows(warehouse)
    syncs_before = len(warehouse.syncs("evo"))
    _spec(root, [["id", "int32"], ["amount", "int64"], ["note", "string"], ["updated", "int64"]],
          [{"id": 3, "amount": 1, "note": "x", "updated": 3}])
    with pytest.raises(SchemaChangeError) as info:
        run_sync(connection(root, "evo"))
    message = str(info.value)
    for expected in ("items.amount: widened", "items.note: new column", "items.name: removed column",
                     "nothing was written"):
        assert expected in message
    assert {c.column for c in info.value.changes} == {"amount", "note", "name"}
    assert _rows(warehouse) == before
    assert len(warehouse.syncs("evo")) == syncs_before
    # Unchanged schema: `fail` syncs as usual.
    _spec(root, V1, [{"id": 3, "name": "c", "amount": 1, "updated": 3}])
    run_sync(connection(root, "evo"))
    assert set(_rows(warehouse)) == {1, 2, 3}


@pytest.mark.parametrize("policy", ["propagate", "ignore"])
@pytest.mark.parametrize("dropped", ["updated", "id"])
def test_removing_the_cursor_or_key_stops_the_stream(make_workspace: WorkspaceFactory, warehouse: Warehouse,
                                                     policy: str, dropped: str) -> None:
    # The mode comes from the catalog (deduped: it has a cursor and a key). Without the breaking
    # check the stream would silently become a full-refresh overwrite of the deduped table.
    root = make_workspace(CONN.format(dest=warehouse.yaml(), policy=policy, mode="null"), name="evo")
    _spec(root, V1, [{"id": i, "name": f"n{i}", "amount": i * 10, "updated": i} for i in (1, 2)])
    run_sync(connection(root, "evo"))
    before = _rows(warehouse)
    columns = [c for c in V1 if c[0] != dropped]
    _spec(root, columns, [{"name": "z", "amount": 1, "id": 9, "updated": 9}],
          pk=[] if dropped == "id" else None, cursor=None if dropped == "updated" else "updated")
    with pytest.raises(SyncFailed) as info:
        run_sync(connection(root, "evo"))
    kind = "cursor removed" if dropped == "updated" else "primary key removed"
    assert f"items.{dropped}: {kind}" in str(info.value) and "stopped" in str(info.value)
    assert _rows(warehouse) == before


def test_a_cursor_named_in_the_yaml_and_gone_from_the_source_stops_before_writing(
        make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = _setup(make_workspace, warehouse, "propagate")
    before = _rows(warehouse)
    _spec(root, [c for c in V1 if c[0] != "updated"], [{"id": 9, "name": "z", "amount": 1}], cursor=None)
    with pytest.raises(ConfigError, match="'items' uses incremental_deduped but has no cursor field"):
        run_sync(connection(root, "evo"))
    assert _rows(warehouse) == before
