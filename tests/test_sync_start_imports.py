"""A sync of a plain connection file imports neither the thorough YAML reader nor the write-back contract (issue 15).

Every `rooftop sync` process (and every Dagster run) pays its imports before the first request: at
200k rows they are a visible share of a sync's CPU. ruamel.yaml is only needed for a connection file
with something unusual in it, and protocol.writes only when something is written back to the source.
The probe runs the bench's child (load_workspace, then run_sync) in a fresh interpreter against a
running sandbox and looks at what it imported: a set check, not a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer

PROBE = """
import json, sys
from pathlib import Path
from pipelines.engine.runner import run_sync
from pipelines.workspace.loading import load_workspace
result = run_sync(load_workspace(Path(sys.argv[1])).get("tiny"))
print(json.dumps({"rows": result.streams[0].rows_written, "modules": sorted(sys.modules)}))
"""
NOT_FOR_A_SYNC = ("ruamel", "protocol.writes", "protocol.unified_writes", "connectors.sandbox.writes")


def test_a_sync_of_a_plain_sandbox_connection_imports_neither_ruamel_nor_the_write_back_contract(
        tmp_path: Path) -> None:
    with SandboxServer(SandboxDataset(scale=1, counts={"work_orders": 100}), api_key="k") as server:
        (tmp_path / "connections").mkdir()
        (tmp_path / "connections" / "tiny.yaml").write_text(
            "name: tiny\n"
            f"source: {{connector: sandbox, config: {{base_url: '{server.url}', api_key: k, page_size: 50}}}}\n"
            "destination: {connector: duckdb, config: {path: warehouse.duckdb}}\n"
            "streams:\n  - {name: work_orders, sync_mode: full_refresh_overwrite, start_date: 2020-01-01}\n")
        done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                              timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["rows"] == 100
    imported = [m for m in out["modules"] if m.startswith(NOT_FOR_A_SYNC)]
    assert imported == [], imported
