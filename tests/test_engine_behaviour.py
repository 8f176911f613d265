"""Engine guarantees that need a source we control: data errors and one stream failing."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipelines.engine.runner import run_sync
from protocol.errors import SyncFailed
from tests.conftest import WorkspaceFactory, connection
from tests.warehouse_checks import rows

CONN = """\
name: messy
source: {connector: "tests.support.messy_source:MessySource"}
destination: {connector: duckdb, config: {path: wh.duckdb}}
streams:
  - name: readings
    sync_mode: full_refresh_overwrite
    enum_maps:
      status: {to: status_normalized, values: {Current: ACTIVE, Notice: ACTIVE}}
  - {name: flaky, sync_mode: incremental_append}
"""


def test_uncastable_values_become_null_and_are_recorded(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(CONN)
    with pytest.raises(SyncFailed):
        run_sync(connection(root, "messy"))
    db = root / "wh.duckdb"
    got = rows(db, 'SELECT id, amount, day, "at", status, status_normalized, _rooftop_meta '
                   'FROM messy.readings ORDER BY id')
    assert [r[:6] for r in got][0][:2] == (1, Decimal("10.50"))
    row2, row3 = got[1], got[2]
    assert row2[1:4] == (None, None, None)  # amount, day, at nulled …
    errors = {e["field"]: e for e in json.loads(row2[6])["errors"]}
    assert set(errors) == {"amount", "day", "at"}  # … and each recorded with its value
    assert errors["amount"]["value"] == "N/A" and errors["day"]["value"] == "2024-02-30"
    assert row3[3].isoformat().startswith("2024-02-29T22:00:00")  # +02:00 converted to UTC
    assert row3[5] is None and "Weird" in row3[6]  # unmapped enum without default: null + recorded
    assert got[0][6] is None  # clean rows carry no meta
    counts = rows(db, "SELECT stream, status, error_count FROM _rooftop.syncs ORDER BY stream")
    assert counts == [("flaky", "failed", 0), ("readings", "succeeded", 4)]


def test_a_failing_stream_does_not_stop_the_others_and_keeps_its_table(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(CONN)
    with pytest.raises(SyncFailed) as info:
        run_sync(connection(root, "messy"))
    assert list(info.value.failures) == ["flaky"]
    assert "flaky API went away" in str(info.value) and info.value.retryable
    db = root / "wh.duckdb"
    assert rows(db, "SELECT count(*) FROM messy.readings") == [(3,)]
    # The failed stream's uncommitted rows were rolled back, its saved state untouched.
    assert rows(db, "SELECT count(*) FROM messy.flaky") == [(0,)]
    assert rows(db, "SELECT count(*) FROM _rooftop.state WHERE stream = 'flaky'") == [(0,)]
    message = rows(db, "SELECT error_message FROM _rooftop.syncs WHERE stream = 'flaky'")[0][0]
    assert message.startswith("SourceUnavailable: flaky API went away")
