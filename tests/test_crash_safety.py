"""SIGKILL a real `rooftop sync` process at several points of a large sync, then check the warehouse.

The child logs JSON events (flushed before the work they announce), so the test kills it right after
`sync_started` (before any checkpoint), right after a `checkpoint_committed` (between checkpoints)
and right after a `commit_started` (during a commit, including the final swap). After every kill the
warehouse must open, the overwrite table must be absent or complete, deduped keys unique; a last
clean sync must end with exactly the source's data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.kill import run_sync_until
from tests.warehouse_checks import expected, rows, table_rows

pytestmark = pytest.mark.slow

COUNTS = {"units": 30_000, "leases": 40_000, "work_orders": 40_000}
CONN = """\
name: crashy
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 1000}}
destination: {{connector: duckdb, config: {{path: wh.duckdb, commit_every_rows: 5000}}}}
max_concurrency: 3
streams:
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_append}}
"""


def _run_until(root: Path, want: dict[str, object] | None) -> int | None:
    return run_sync_until(root, "crashy", want)


def _check_consistent(db: Path, dataset: SandboxDataset, units_before: int | None) -> None:
    tables = {name for (name,) in rows(db, "SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'sandbox'")}
    if "units" in tables:
        count = rows(db, "SELECT count(*) FROM sandbox.units")[0][0]
        # Complete: the previous full snapshot or the new one, never a partial table.
        assert count in {units_before, dataset.record_count("units")}
    if "leases" in tables:
        assert rows(db, "SELECT count(*) = count(DISTINCT id) FROM sandbox.leases") == [(True,)]


@pytest.mark.timeout(600)
def test_sigkill_at_any_point_loses_nothing(make_workspace: WorkspaceFactory) -> None:
    dataset = SandboxDataset(seed=3, scale=2, counts=COUNTS)
    with SandboxServer(dataset, api_key=API_KEY) as server:
        root = make_workspace(CONN.format(url=server.url), name="crashy")
        db = root / "wh.duckdb"
        kill_points: list[dict[str, object]] = [
            {"event": "sync_started"},
            {"event": "checkpoint_committed", "stream": "leases", "n": 2},
            {"event": "commit_started", "stream": "work_orders", "final": False},
            {"event": "commit_started", "stream": "units", "final": True},
            # units is a full refresh, restarted every sync: this point is always reached.
            {"event": "commit_started", "stream": "units", "final": False},
        ]
        units_before: int | None = None
        for round_, point in enumerate(kill_points):
            code = _run_until(root, point)
            assert code is None, f"sync finished before reaching {point}"
            _check_consistent(db, dataset, units_before)
            if round_ == 1:
                dataset.mutate("leases", update=0.05, insert=0.02, delete=0.01, seed=5)
                dataset.mutate("work_orders", update=0.05, insert=0.02, delete=0.01, seed=6)
            tables = rows(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sandbox'")
            if ("units",) in tables:
                units_before = rows(db, "SELECT count(*) FROM sandbox.units")[0][0]

        assert _run_until(root, None) == 0
        assert rows(db, "SELECT count(*) FROM sandbox.units") == [(dataset.record_count("units"),)]
        live_leases = table_rows(db, "sandbox.leases", where="_rooftop_deleted_at IS NULL")
        assert live_leases == expected(dataset.current_records("leases"))
        assert rows(db, "SELECT count(*) = count(DISTINCT id) FROM sandbox.leases") == [(True,)]
        # Append: every live work order's current version is there exactly once.
        current = {(r["id"], r["updated_at"]) for r in dataset.current_records("work_orders")}
        stored = rows(db, "SELECT id, strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ'), count(*) FROM sandbox.work_orders "
                          "WHERE _rooftop_deleted_at IS NULL GROUP BY ALL")
        assert {(i, u) for i, u, _ in stored} >= current
        assert all(n == 1 for _, _, n in stored), "a version was appended twice"
        statuses = rows(db, "SELECT DISTINCT status FROM _rooftop.syncs")
        assert ("interrupted",) in statuses and ("running",) not in statuses
