"""The operations features from Dagster: a backsync as run config, the sync log in the warehouse and
in Dagster's event log, and webhooks that link the Dagster run."""

from __future__ import annotations

import json
import textwrap
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.dagster import build_definitions
from tests.conftest import API_KEY
from tests.warehouse_checks import rows

CONN = """\
name: ops
source: {{connector: sandbox, config: {{api_key: "${{SANDBOX_TEST_KEY}}", scale: 2, page_size: 20}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
notify: [{{url: "{hook}", when: always}}]
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
"""
KEY = AssetKey(["sandbox", "leases"])


def _workspace(root: Path, hook: str) -> Path:
    (root / "connections").mkdir(parents=True)
    (root / "connections" / "ops.yaml").write_text(textwrap.dedent(CONN.format(hook=hook)))
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
    return root


def _cursor(db: Path) -> str:
    ((state,),) = rows(db, "SELECT CAST(state AS VARCHAR) FROM _rooftop.state WHERE stream = 'leases' "
                           "QUALIFY row_number() OVER (ORDER BY seq DESC) = 1")
    return str(json.loads(state)["cursor"])


def test_backsync_run_config_log_and_webhook(tmp_path: Path, receiver: ThreadingHTTPServer) -> None:
    root = _workspace(tmp_path / "ws", f"http://127.0.0.1:{receiver.server_address[1]}/hook")
    assert CliRunner().invoke(app, ["--workspace", str(root), "sync", "ops"]).exit_code == 0
    before = _cursor(root / "wh.duckdb")

    defs = build_definitions(root)
    instance = DagsterInstance.ephemeral()
    result = materialize([defs.resolve_assets_def(KEY)], instance=instance,
                         run_config={"ops": {"ops_sync": {"config": {"since": "2023-01-01"}}}})
    assert result.success
    assert _cursor(root / "wh.duckdb") == before
    ((dupes,),) = rows(root / "wh.duckdb", "SELECT count(*) - count(DISTINCT id) FROM sandbox.leases")
    assert dupes == 0
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["backsync_since"].value == "2023-01-01"
    sync_id = metadata["sync_id"].value
    assert metadata["logs"].value == f"rooftop logs {sync_id}"

    # The engine's log is in Dagster's event log and, in full, in the warehouse.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("[rooftop.engine]" in m and "backsync from 2023-01-01" in m for m in messages)
    logs = CliRunner().invoke(app, ["--workspace", str(root), "logs", str(sync_id), "--json"])
    assert logs.exit_code == 0, logs.output
    events = [json.loads(line)["event"] for line in logs.stdout.splitlines()]
    assert "backsync" in events and "http_request" in events

    cli_event, dagster_event = (r["body"] for r in receiver.received)  # type: ignore[attr-defined]
    assert cli_event["dagster_run_url"] is None
    assert dagster_event["dagster_run_url"].endswith(f"/runs/{result.run_id}")
    assert (dagster_event["status"], dagster_event["sync_id"]) == ("succeeded", sync_id)


@pytest.mark.parametrize(("config", "message"), [
    ({"since": "yesterday"}, "is not a date"),
    ({"since": "2023-01-01", "full_refresh": True}, "`since` and `full_refresh` do not combine"),
])
def test_a_bad_since_fails_without_retry(tmp_path: Path, receiver: ThreadingHTTPServer, config: dict[str, Any],
                                         message: str) -> None:
    root = _workspace(tmp_path / "ws", f"http://127.0.0.1:{receiver.server_address[1]}/hook")
    defs = build_definitions(root)
    result = materialize([defs.resolve_assets_def(KEY)], instance=DagsterInstance.ephemeral(), raise_on_error=False,
                         run_config={"ops": {"ops_sync": {"config": config}}})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert message in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert not (root / "wh.duckdb").exists()
