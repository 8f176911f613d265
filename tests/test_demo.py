"""The example workspace is what `make demo` runs: it must sync and match the sandbox exactly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_workspace_syncs_and_matches_the_sandbox(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "connections", tmp_path / "connections")
    sync = subprocess.run([sys.executable, "-m", "pipelines.cli", "--workspace", str(tmp_path), "sync", "--all"],
                          capture_output=True, text=True, timeout=300)
    assert sync.returncode == 0, sync.stderr
    modes = {"full_refresh_overwrite", "full_refresh_append", "incremental_append", "incremental_deduped"}
    assert all(mode in sync.stdout for mode in modes), "the demo must show every sync mode"
    verify = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_demo.py"),
                             str(tmp_path / "warehouse.duckdb"), "--workspace", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "verified: every table matches the sandbox" in verify.stdout
    assert verify.stdout.count("  match\n") == 5
