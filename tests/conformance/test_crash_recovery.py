"""SIGKILL a real `rooftop sync` process at several points, on every destination, then resume.

The child logs JSON events before the work they announce (tests/support/kill.py); the test kills
it on a chosen event: before any checkpoint, between checkpoints, during a commit and during the
final swap. After every kill the overwrite table is absent or complete and
deduped keys are unique; a last clean sync ends with exactly the source's data. The row-level
diffs of a deduplicated merge survive kills the same way: each change is recorded exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from protocol.bookkeeping import DIFFS
from tests.conformance.conftest import Warehouse
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.kill import run_sync_until
from tests.warehouse_checks import LEASE_COLUMNS, expected

pytestmark = pytest.mark.slow

COUNTS = {"units": 6_000, "leases": 12_000, "work_orders": 8_000}
CONN = """\
name: crashy
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 500}}
destination: {dest}
max_concurrency: 3
streams:
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_append}}
"""


def _run_until(root: Path, want: dict[str, object] | None) -> int | None:
    return run_sync_until(root, "crashy", want)


def _count(warehouse: Warehouse, table: str) -> int | None:
    records = warehouse.records("sandbox", table)
    return None if records is None else len(records)


@pytest.mark.timeout(600)
def test_sigkill_at_any_point_loses_nothing(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    dataset = SandboxDataset(seed=3, scale=2, counts=COUNTS)
    with SandboxServer(dataset, api_key=API_KEY) as server:
        root = make_workspace(CONN.format(url=server.url, dest=warehouse.yaml(commit_every_rows=1500)),
                              name="crashy")
        # Ordered so each point is reachable whatever the threads' relative progress: every stream
        # still has at least two commits' worth of rows left when its point comes up.
        kill_points: list[dict[str, object]] = [
            {"event": "sync_started"},
            {"event": "commit_started", "stream": "work_orders", "final": False},
            {"event": "checkpoint_committed", "stream": "leases", "n": 2},
            {"event": "commit_started", "stream": "units", "final": True},
            # units is a full refresh, restarted every sync: this point is always reached.
            {"event": "commit_started", "stream": "units", "final": False},
        ]
        units_before: int | None = None
        for round_, point in enumerate(kill_points):
            assert _run_until(root, point) is None, f"sync finished before reaching {point}"
            units = _count(warehouse, "units")
            # Complete: the previous full snapshot or the new one, never a partial table.
            assert units in {None, units_before, dataset.record_count("units")}
            leases = warehouse.records("sandbox", "leases") or []
            assert len(leases) == len({r["id"] for r in leases})
            if round_ == 2:
                dataset.mutate("leases", update=0.05, insert=0.02, delete=0.01, seed=5)
                dataset.mutate("work_orders", update=0.05, insert=0.02, delete=0.01, seed=6)
            units_before = units

        assert _run_until(root, None) == 0
        assert _count(warehouse, "units") == dataset.record_count("units")
        leases = warehouse.records("sandbox", "leases") or []
        assert len(leases) == len({r["id"] for r in leases})
        live = [r for r in leases if r["_rooftop_deleted_at"] is None]
        assert Counter(tuple(r[c] for c in LEASE_COLUMNS) for r in live) == expected(dataset.current_records("leases"))
        current = {(r["id"], r["updated_at"]) for r in dataset.current_records("work_orders")}
        stored = Counter((r["id"], r["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ"))
                         for r in warehouse.records("sandbox", "work_orders") or [] if r["_rooftop_deleted_at"] is None)
        assert set(stored) >= current
        assert all(n == 1 for n in stored.values()), "a version was appended twice"
        statuses = {s.status for s in warehouse.syncs("crashy")}
        assert "interrupted" in statuses and "running" not in statuses


DIFFS_CONN = """\
name: crashy
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 500}}
destination: {dest}
streams: [{{name: leases, sync_mode: incremental_deduped}}]
"""


def _all_diffs(warehouse: Warehouse) -> Counter[tuple[int, str, str]]:
    with warehouse.destination() as dest:
        rows = dest.read_bookkeeping(DIFFS, "crashy").to_pylist()
    return Counter((json.loads(r["key"])["id"], r["change"], r["sync_id"]) for r in rows)


@pytest.mark.timeout(600)
def test_sigkill_during_merges_records_each_change_exactly_once(make_workspace: WorkspaceFactory,
                                                                warehouse: Warehouse) -> None:
    """Kills land anywhere in a commit (the child runs on while the signal is sent): a merge that
    was committed has its diffs, one that was not has none, so its retry records them once."""
    dataset = SandboxDataset(seed=4, scale=2, counts={"units": 100, "leases": 5_000, "work_orders": 100})
    with SandboxServer(dataset, api_key=API_KEY) as server:
        root = make_workspace(DIFFS_CONN.format(url=server.url, dest=warehouse.yaml(commit_every_rows=1000)),
                              name="crashy")
        first_load: set[int] = set()
        for point in ({"event": "checkpoint_committed", "stream": "leases", "n": 1},
                      {"event": "commit_started", "stream": "leases", "final": False},
                      {"event": "checkpoint_committed", "stream": "leases", "n": 2}):
            assert _run_until(root, point) is None, f"sync finished before {point}"
            if not first_load:  # the sync that found the table empty records no diffs (a first load)
                first_load = {r["id"] for r in warehouse.records("sandbox", "leases") or []}
        assert first_load
        assert _run_until(root, None) == 0
        first = _all_diffs(warehouse)
        assert Counter((key, change) for key, change, _ in first.elements()) == Counter(
            {(i, "inserted"): 1 for i in range(1, 5_001) if i not in first_load})

        touched = dataset.mutate("leases", update=0.05, insert=0.02, delete=0.01, seed=9)
        assert _run_until(root, {"event": "commit_started", "stream": "leases"}) is None
        assert _run_until(root, None) == 0
        later = _all_diffs(warehouse) - first
        changes = {(i, change) for change, ids in (("updated", touched["updated"]),
                                                   ("inserted", touched["inserted"]),
                                                   ("deleted", touched["deleted"])) for i in ids}
        assert Counter((key, change) for key, change, _ in later.elements()) == Counter(dict.fromkeys(changes, 1))
