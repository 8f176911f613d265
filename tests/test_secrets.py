"""A credential given through ${VAR} never shows up in output, logs, the warehouse or errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from connectors.sandbox.server import SandboxServer
from pipelines.config.redact import Redactor
from tests.conftest import API_KEY, WorkspaceFactory

CONN = """\
name: secretive
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 25}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
"""


def _rooftop(root: Path, *args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SANDBOX_TEST_KEY": key}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--workspace", str(root), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _warehouse_text(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        return "\n".join(str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables)


def test_secret_absent_from_output_logs_and_warehouse(make_workspace: WorkspaceFactory,
                                                      sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url))
    ok = _rooftop(root, "--log-format", "json", "--debug", "sync", "secretive", key=API_KEY)
    assert ok.returncode == 0, ok.stderr
    wrong_key = "sbx-WRONG-key-0d9e8f"
    failed = _rooftop(root, "--log-format", "json", "sync", "secretive", key=wrong_key)
    assert failed.returncode != 0
    assert "api_key" in failed.stderr  # the message names the credential …
    status = _rooftop(root, "status", "secretive", key=wrong_key)
    for run in (ok, failed, status):
        for secret in (API_KEY, wrong_key):
            assert secret not in run.stdout and secret not in run.stderr
    text = _warehouse_text(root / "wh.duckdb")
    assert "failed" in text  # … the failure is recorded in _rooftop.syncs …
    assert API_KEY not in text and wrong_key not in text  # … without the key


def test_redactor_masks_secrets_and_url_passwords() -> None:
    redact = Redactor(["s3cr3t-value"])
    message = "GET https://api/x?key=s3cr3t-value failed; db postgresql://bob:pa55word@host/db"
    assert redact(message) == "GET https://api/x?key=*** failed; db postgresql://bob:***@host/db"
