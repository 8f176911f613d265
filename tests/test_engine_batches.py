"""The engine gathers a source's small pages into large batches (pipelines/engine/batching.py):
what lands must be exactly what per-page loading landed, and a checkpoint is never committed
without every row it covers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipelines.engine.batching import BATCH_ROWS
from pipelines.engine.runner import run_sync
from protocol.errors import SyncFailed
from tests.conftest import WorkspaceFactory, connection
from tests.support.paged_source import updated_at
from tests.warehouse_checks import rows

CONN = """\
name: paged
source: {{connector: "tests.support.paged_source:PagedSource", config: {config}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb{dest}}}}}
streams: [{{name: events, sync_mode: {mode}}}]
"""


@pytest.mark.parametrize(("text_every", "bad_ids"), [
    (1, [0, 777, BATCH_ROWS - 1, BATCH_ROWS, 29_999]),  # every page text: batches of BATCH_ROWS rows
    (7, [3_500, 3_999, 14_123]),  # text and float pages alternate: each change of raw types is a batch
])
def test_gathered_pages_land_every_value_and_every_data_error_on_its_row(
        make_workspace: WorkspaceFactory, text_every: int, bad_ids: list[int]) -> None:
    config = {"pages": 60, "page_rows": 500, "text_amount_every": text_every, "bad_ids": bad_ids}
    root = make_workspace(CONN.format(config=json.dumps(config), dest="", mode="full_refresh_overwrite"))
    result = run_sync(connection(root, "paged"))
    assert (result.streams[0].rows_read, result.streams[0].rows_written) == (30_000, 30_000)
    got = rows(root / "wh.duckdb", "SELECT id, amount, updated_at, _rooftop_meta FROM paged.events ORDER BY id")
    assert [r[0] for r in got] == list(range(30_000))
    for record_id, amount, at, meta in got:
        assert at.strftime("%Y-%m-%dT%H:%M:%SZ") == updated_at(record_id)
        if record_id in bad_ids:
            assert amount is None
            assert json.loads(meta)["errors"] == [
                {"field": "amount", "value": "lots", "error": json.loads(meta)["errors"][0]["error"]}]
        else:
            assert (amount, meta) == (Decimal(f"{record_id}.25"), None)
    assert rows(root / "wh.duckdb", "SELECT error_count FROM _rooftop.syncs") == [(len(bad_ids),)]


def test_a_checkpoint_is_committed_with_the_held_rows_it_covers(make_workspace: WorkspaceFactory) -> None:
    # Commits every 250 rows; a checkpoint every 4 pages of 100: at the first, 300 rows are written
    # and 100 still held. The stream then fails: what was committed must be exactly what its state covers.
    config = {"pages": 10, "page_rows": 100, "checkpoint_every": 4, "fail_after": 7}
    root = make_workspace(CONN.format(config=json.dumps(config), dest=", commit_every_rows: 250",
                                      mode="incremental_append"))
    with pytest.raises(SyncFailed, match="paged API went away"):
        run_sync(connection(root, "paged"))
    db = root / "wh.duckdb"
    ((state,),) = rows(db, "SELECT CAST(state AS VARCHAR) FROM _rooftop.state WHERE stream = 'events'")
    assert json.loads(state)["cursor"] == updated_at(399)
    assert [r[0] for r in rows(db, "SELECT id FROM paged.events ORDER BY id")] == list(range(400))
