"""Values a destination cannot store are data errors, not stream failures, on every destination.

A string holding U+0000 (Postgres text cannot), an integer beyond int64, a decimal beyond its
precision, a float that a float32 column would turn into infinity, and dates and timestamps outside the years
1-9999: each is nulled and named in its row's `_rooftop_meta`, the sync reports the count and
succeeds, and the next sync does too (before, one NUL failed a Postgres stream at every sync).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from pipelines.engine.runner import run_sync
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection

CONN = """\
name: hostile
source: {{connector: "tests.conformance.evolving_source:EvolvingSource", config: {{spec: spec.json}}}}
destination: {dest}
streams: [{{name: values, sync_mode: incremental_append}}]
"""
COLUMNS = [["id", "int64"], ["text", "string"], ["big", "int64"], ["money", "decimal(12,2)"],
           ["day", "date"], ["at", "timestamp"], ["ratio", "float64"], ["narrow", "float32"]]
ROWS: list[dict[str, Any]] = [
    {"id": 1, "text": "fine ✓", "big": 9_223_372_036_854_775_807, "money": 1234567890.12, "day": "9999-12-31",
     "at": "0001-01-01T00:00:00Z", "ratio": 1e300, "narrow": 1.5},
    {"id": 2, "text": "nul\x00inside", "big": 2**70, "money": 1e20, "day": "0000-06-01",
     "at": "0000-06-01T00:00:00Z", "ratio": 0.5, "narrow": 1e300},
]


def _errors(row: dict[str, Any]) -> dict[str, str]:
    meta = row["_rooftop_meta"]
    return {} if meta is None else {e["field"]: e["error"] for e in json.loads(meta)["errors"]}


def test_unstorable_values_are_nulled_and_recorded(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = make_workspace(CONN.format(dest=warehouse.yaml()), name="hostile")
    spec = {"name": "values", "columns": COLUMNS, "cursor": "id", "primary_key": ["id"], "rows": ROWS}
    (root / "spec.json").write_text(json.dumps({"namespace": "raw", "streams": [spec]}))

    first = run_sync(connection(root, "hostile"))
    rows = {r["id"]: r for r in warehouse.records("raw", "values") or []}
    clean, hostile = rows[1], rows[2]
    assert _errors(clean) == {}
    assert (clean["text"], clean["big"], str(clean["money"]), clean["day"]) == \
        ("fine ✓", 9_223_372_036_854_775_807, "1234567890.12", date(9999, 12, 31))
    assert clean["at"] == datetime(1, 1, 1, tzinfo=UTC) and clean["ratio"] == 1e300 and clean["narrow"] == 1.5

    nulled = {"big", "money", "day", "at", "narrow"} | ({"text"} if warehouse.kind == "postgres" else set())
    assert set(_errors(hostile)) == nulled
    assert all(hostile[name] is None for name in nulled)
    if warehouse.kind != "postgres":
        assert hostile["text"] == "nul\x00inside"  # DuckDB and Parquet hold U+0000 intact
    else:
        assert "U+0000" in _errors(hostile)["text"]
    assert "1-9999" in _errors(hostile)["day"] and "1-9999" in _errors(hostile)["at"]
    assert first.streams[0].error_count == len(nulled)

    # The stream is not stuck: the next sync re-reads the boundary row and succeeds again.
    again = run_sync(connection(root, "hostile"))
    assert again.ok and len(warehouse.records("raw", "values") or []) == 2
    assert [s.status for s in warehouse.syncs("hostile")] == ["succeeded", "succeeded"]
