"""The `rooftop` commands as a user runs them: output, exit codes, and the messages on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from tests.conftest import API_KEY, WorkspaceFactory

CONN = """\
name: cli
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}
destination: {{connector: duckdb, config: {{path: wh.duckdb, lock_timeout_seconds: {lock}}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
"""


def _invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def test_connectors_lists_builtins_and_shows_a_spec() -> None:
    result = CliRunner().invoke(app, ["connectors"])
    assert result.exit_code == 0
    assert "sandbox" in result.output and "duckdb" in result.output
    spec = CliRunner().invoke(app, ["connectors", "sandbox"])
    assert spec.exit_code == 0 and '"api_key"' in spec.output and '"writeOnly": true' in spec.output
    unknown = CliRunner().invoke(app, ["connectors", "sandbx"])
    assert unknown.exit_code == 2 and "did you mean 'sandbox'" in unknown.output


def test_discover_check_sync_status(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, lock=60), name="cli")
    code, out = _invoke(root, "discover", "cli", "--json")
    catalog = json.loads(out)
    leases = next(s for s in catalog["streams"] if s["name"] == "leases")
    assert code == 0 and leases["primary_key"] == ["id"] and leases["default_cursor"] == "updated_at"
    assert _invoke(root, "check", "cli")[0] == 0
    code, out = _invoke(root, "sync", "cli")
    assert code == 0, out
    assert "sandbox.leases" in out and "succeeded" in out
    code, out = _invoke(root, "status", "cli")
    leases_count = sandbox.dataset.record_count("leases")
    assert code == 0 and f"{leases_count:,}" in out and "succeeded" in out


def test_check_with_a_wrong_key_names_the_field_not_the_value(make_workspace: WorkspaceFactory,
                                                              sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, lock=60), name="cli")
    (root / ".env").write_text("SANDBOX_TEST_KEY=not-the-right-key-99\n")
    code, out = _invoke(root, "check", "cli")
    assert code == 2
    assert "api_key" in out and "not-the-right-key-99" not in out


def test_busy_warehouse_waits_then_fails_clearly(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, lock=0.5), name="cli")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
                               "sys.stdin.read()", str(root / "wh.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, out = _invoke(root, "sync", "cli")
        assert code == 3, out  # transient: worth retrying
        assert "wh.duckdb" in out and "lock" in out.lower() and str(holder.pid) in out
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    assert _invoke(root, "sync", "cli")[0] == 0  # once released, the next sync goes through


def test_sandbox_command_serves_the_api(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sandbox", "--port", "0", "--scale", "1",
                             "--api-key", API_KEY], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        url = next(word for line in proc.stdout for word in line.split() if word.startswith("http://127.0.0.1:"))
        body = httpx.get(f"{url.rstrip('/')}/v1/leases", headers={"X-API-Key": API_KEY}, params={"limit": 5}).json()
        assert len(body["data"]) == 5
        assert API_KEY not in url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
