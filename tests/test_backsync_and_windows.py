"""Backsync (`rooftop sync CONN --since DATE`) and date windows (start_date, end_date, initial_window).

A backsync re-reads history without dropping data: deduped tables merge (no duplicate keys),
overwrite tables swap in a complete copy, and the saved cursor never moves backwards, not even
when the backsync is killed between two of its checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from pipelines.engine.runner import run_sync
from tests.conftest import WorkspaceFactory, connection
from tests.support.kill import run_sync_until
from tests.warehouse_checks import rows

CONN = """\
name: bs
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 10}}
destination: {{connector: duckdb, config: {{path: wh.duckdb, commit_every_rows: 10}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
"""


def _cursor(root: Path, stream: str) -> str:
    (state,) = rows(root / "wh.duckdb", f"SELECT CAST(state AS VARCHAR) FROM _rooftop.state WHERE stream = '{stream}' "
                                        "QUALIFY row_number() OVER (ORDER BY seq DESC) = 1")
    return str(json.loads(state[0])["cursor"])


def _duplicates(root: Path, table: str) -> int:
    ((n,),) = rows(root / "wh.duckdb", f"SELECT count(*) - count(DISTINCT id) FROM {table}")
    return int(n)


def _live_ids(root: Path, table: str) -> set[int]:
    return {r[0] for r in rows(root / "wh.duckdb", f"SELECT id FROM {table} WHERE "
                                                  + ("_rooftop_deleted_at IS NULL" if "leases" in table else "true"))}


def test_backsync_merges_and_never_moves_the_cursor_back(make_workspace: WorkspaceFactory,
                                                         sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url), name="bs")
    run_sync(connection(root, "bs"))
    before = _cursor(root, "leases")
    leases = {r["id"] for r in sandbox.dataset.current_records("leases")}

    # Killed after its first checkpoint commit: the re-read is far behind the saved cursor.
    assert run_sync_until(root, "bs", {"event": "checkpoint_committed", "stream": "leases"},
                          args=["--since", "2023-01-01", "--stream", "leases"]) is None
    assert _cursor(root, "leases") == before
    assert _duplicates(root, "sandbox.leases") == 0

    result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "bs", "--since", "2023-01-01"])
    assert result.exit_code == 0, result.output
    assert _cursor(root, "leases") == before  # re-read up to the same newest record: equal, not older
    assert _duplicates(root, "sandbox.leases") == 0 and _live_ids(root, "sandbox.leases") == leases
    assert _live_ids(root, "sandbox.units") == {u["id"] for u in sandbox.dataset.current_records("units")}

    sandbox.dataset.mutate("leases", update=0.1, insert=0.1, delete=0.05, seed=3)
    result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "bs", "--since", "2023-01-01",
                                      "--stream", "leases"])
    assert result.exit_code == 0, result.output
    assert _cursor(root, "leases") > before  # the re-read passed the saved cursor: it moves forward
    run_sync(connection(root, "bs"))  # the next incremental sync resumes from there
    assert _duplicates(root, "sandbox.leases") == 0
    assert _live_ids(root, "sandbox.leases") == {r["id"] for r in sandbox.dataset.current_records("leases")}


def test_backsync_input_errors(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url), name="bs")
    for args, message in ((["--since", "last week"], "is not a date"),
                          (["--since", "2024-01-01", "--full-refresh"], "do not combine"),
                          (["--since", "2024-01-01", "--stream", "lease"], "'lease' is not one of")):
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "bs", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (root / "wh.duckdb").exists()


WINDOWS = """\
name: win
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
initial_window: 30 days
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_append, start_date: "2024-06-01"}}
  - {{name: units, sync_mode: full_refresh_overwrite, cursor_field: updated_at, end_date: "2023-01-01"}}
"""


def test_date_windows(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    """Base sandbox data is from 2023-01-01; mutations are stamped now."""
    dataset = sandbox.dataset
    touched = {s: dataset.mutate(s, update=0.1, insert=0.05, delete=0, seed=9) for s in ("leases", "work_orders",
                                                                                           "units")}
    root = make_workspace(WINDOWS.format(url=sandbox.url), name="win")
    run_sync(connection(root, "win"))
    recent = {s: set(t["updated"]) | set(t["inserted"]) for s, t in touched.items()}
    # initial_window: the first sync of an incremental stream reads the last 30 days only.
    assert _live_ids(root, "sandbox.leases") == recent["leases"]
    # start_date: only records on or after it (sent to the API as updated_since).
    assert {r[0] for r in rows(root / "wh.duckdb", "SELECT id FROM sandbox.work_orders")} == recent["work_orders"]
    # end_date: only records on or before it (the API has no such filter: applied by the engine).
    all_units = {u["id"] for u in dataset.current_records("units")}
    assert _live_ids(root, "sandbox.units") == all_units - recent["units"]

    # After the first sync the saved cursor rules: the window does not hide later changes.
    changed = dataset.mutate("leases", update=0.05, insert=0, delete=0, seed=10)
    run_sync(connection(root, "win"))
    assert _live_ids(root, "sandbox.leases") == recent["leases"] | set(changed["updated"])
