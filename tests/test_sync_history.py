"""After the fact: `rooftop history`, `rooftop logs`, `rooftop diffs` and `notify:` webhooks,
through the CLI against a real sandbox, a real warehouse and a real webhook receiver."""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from tests.conftest import API_KEY, WorkspaceFactory

CONN = """\
name: hist
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 20,
           retries: {{attempts: 6, initial_delay: 0.01, max_delay: 0.05}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
{extra}"""


def _cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _log(root: Path, sync_id: str) -> list[dict[str, Any]]:
    result = _cli(root, "logs", sync_id, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_history_and_logs_show_requests_retries_and_the_failing_request(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, extra=""), name="hist")
    sandbox.set_faults(fail_first=3, status=503)
    assert _cli(root, "sync", "hist").exit_code == 0
    (first,) = _json(_cli(root, "history", "hist", "--json"))
    assert first["status"] == "succeeded" and first["retries"] == 3
    assert first["rows"] == sandbox.dataset.record_count("leases") + sandbox.dataset.record_count("units")
    log = _log(root, first["sync_id"])
    requests = [r for r in log if r["event"] == "http_request"]
    assert len(requests) == first["requests"] >= 4
    retries = [r for r in log if r["event"] == "http_retry"]
    assert len(retries) == 3 and all("503" in json.dumps(r["data"]) for r in retries)
    assert {r["stream"] for r in log if r["event"] == "stream_finished"} == {"leases", "units"}

    # A refused key: the log keeps the failing request and response, with the key masked.
    (root / ".env").write_text("SANDBOX_TEST_KEY=wrong-key-0123456789\n")
    assert _cli(root, "sync", "hist").exit_code == 2  # every stream failed on the refused key: fix the config
    history = _json(_cli(root, "history", "hist", "--json"))
    assert [h["status"] for h in history] == ["failed", "succeeded"]
    assert history[0]["errors"] and all("wrong-key" not in e for e in history[0]["errors"])
    failed_log = _log(root, history[0]["sync_id"])
    errors = [r for r in failed_log if r["event"] == "http_error"]
    assert errors and "401" in json.dumps(errors[0]["data"])
    raw = _cli(root, "logs", history[0]["sync_id"]).output
    assert "wrong-key-0123456789" not in raw and "wrong-key-0123456789" not in json.dumps(failed_log)
    assert _cli(root, "logs", "20990101T000000Z-abcdef").exit_code == 2


def test_history_retention_prunes_old_syncs(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, extra="retention: {history: 0 days, diffs: 0 days}\n"),
                          name="hist")
    assert _cli(root, "sync", "hist").exit_code == 0
    assert _cli(root, "sync", "hist").exit_code == 0
    (only,) = _json(_cli(root, "history", "hist", "--json"))
    assert _log(root, only["sync_id"])


def test_diffs_show_exactly_the_source_mutations(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url, extra=""), name="hist")
    assert _cli(root, "sync", "hist").exit_code == 0
    changes = sandbox.dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=21)
    assert _cli(root, "sync", "hist").exit_code == 0
    second = _json(_cli(root, "history", "hist", "--json"))[0]["sync_id"]
    diffs = _json(_cli(root, "diffs", "hist", "--sync", second, "--json"))
    assert {(d["key"]["id"], d["change"]) for d in diffs} == {
        *((i, "updated") for i in changes["updated"]), *((i, "inserted") for i in changes["inserted"]),
        *((i, "deleted") for i in changes["deleted"])}
    assert {d["stream"] for d in diffs} == {"leases"}  # overwrite streams keep no diffs
    assert all("updated_at" in d["fields"] for d in diffs if d["change"] == "updated")
    both_syncs = _json(_cli(root, "diffs", "hist", "--stream", "leases", "--json"))
    assert both_syncs == diffs  # the first load of the table recorded none
    table = _cli(root, "diffs", "hist", "--sync", second)
    assert table.exit_code == 0 and "updated" in table.output


def test_webhooks_on_success_and_failure_and_a_dead_webhook_never_fails_the_sync(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer, receiver: ThreadingHTTPServer) -> None:
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/T0K3N-secret-path"
    extra = f"notify:\n  - {{url: \"{hook}\", when: always}}\n"
    root = make_workspace(CONN.format(url=sandbox.url, extra=extra), name="hist")
    assert _cli(root, "sync", "hist").exit_code == 0
    (success,) = receiver.received  # type: ignore[attr-defined]
    body = success["body"]
    assert success["path"] == "/hooks/T0K3N-secret-path"
    assert (body["event"], body["connection"], body["status"], body["error_summary"]) == \
        ("sync.succeeded", "hist", "succeeded", None)
    assert {s["stream"] for s in body["streams"]} == {"leases", "units"}
    assert body["rows_written"] == sum(s["rows_written"] for s in body["streams"]) > 0
    assert body["dagster_run_url"] is None

    (root / ".env").write_text("SANDBOX_TEST_KEY=wrong-key-0123456789\n")
    result = _cli(root, "sync", "hist")
    assert result.exit_code == 2
    failure = receiver.received[1]["body"]  # type: ignore[attr-defined]
    assert (failure["event"], failure["status"]) == ("sync.failed", "failed")
    assert "401" in failure["error_summary"] or "API key" in failure["error_summary"]
    assert "wrong-key-0123456789" not in json.dumps(failure)
    assert "T0K3N" not in result.output

    # The webhook goes away: syncs carry on and succeed.
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
    receiver.shutdown()
    receiver.server_close()
    result = _cli(root, "--log-format", "json", "sync", "hist")
    assert result.exit_code == 0, result.output
    assert "notify_failed" in result.output and "T0K3N" not in result.output
