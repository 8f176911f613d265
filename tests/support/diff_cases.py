"""One people table for tests that drive a destination's writer directly: its specs and batches.

The diff rules every destination shares are in tests/conformance/test_diff_rules.py; the
destination-specific cases (tests/test_{duckdb,postgres,parquet}_meta.py) use the same shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from protocol.types import (
    META_DELETED_AT,
    META_EXTRACTED_AT,
    META_META,
    META_SYNC_ID,
    SyncMode,
    TableSpec,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
META = [pa.field(META_EXTRACTED_AT, TS), pa.field(META_SYNC_ID, pa.string()), pa.field(META_META, pa.string()),
        pa.field(META_DELETED_AT, TS)]
DATA = [pa.field("id", pa.int64()), pa.field("name", pa.string()), pa.field("score", pa.float64()),
        pa.field("tags", pa.list_(pa.string())), pa.field("addr", pa.struct([("city", pa.string())])),
        pa.field("updated", pa.int64())]


def people_spec(fields: list[pa.Field] = DATA, keys: tuple[str, ...] = ("id",), record_diffs: bool = True,
                mode: SyncMode = SyncMode.INCREMENTAL_DEDUPED) -> TableSpec:
    return TableSpec(connection="c", stream="people", namespace="ns", table="people",
                     schema=pa.schema([*fields, *META]), sync_mode=mode,
                     primary_key=keys, cursor_field="updated", record_diffs=record_diffs)


def people_batch(spec: TableSpec, sync_id: str, rows: list[dict[str, Any]]) -> pa.RecordBatch:
    full = [{META_EXTRACTED_AT: T0, META_SYNC_ID: sync_id, META_META: None, META_DELETED_AT: None, **r}
            for r in rows]
    return pa.RecordBatch.from_pylist(full, schema=spec.schema)
