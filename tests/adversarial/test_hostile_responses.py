"""Hostile API responses, driven through the `rooftop` CLI against a real server on 127.0.0.1 and DuckDB.

One case per row of issue 10 that concerns what a REST API answers: an error body mid-pagination
(once a 3,000-row table became 100 rows, exit 0), an object where the record list belongs (once an
all-null row replaced id 1), a body trickling a byte at a time and endless empty pages (once
never-ending syncs), and a credential holding a NUL (once exit 3, "transient", so Dagster retried a
config error). Each must fail fast, named, with the right exit code, and change nothing already landed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import WorkspaceFactory
from tests.support.http_api import CursorPages, Reply, Request, TestApi
from tests.warehouse_checks import rows

CONN = """\
name: hostile
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: data
    paginator: {{type: cursor}}
    retries: {{attempts: 2, initial_delay: 0, max_delay: 0}}
{extra}
    streams:
      - name: leases
        path: /leases
        primary_key: id
        schema: {{id: int64, status: string, updated_at: timestamp}}
        incremental: {{cursor_field: updated_at}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: {mode}}}
"""
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def leases(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "status": "Current", "updated_at": (T0 + timedelta(minutes=i)).isoformat()}
            for i in range(1, n + 1)]


def workspace(make_workspace: WorkspaceFactory, url: str, mode: str = "full_refresh_overwrite",
              extra: str = "") -> Path:
    return make_workspace(CONN.format(url=url, mode=mode, extra=extra), name="hostile")


def rooftop(root: Path, *args: str) -> tuple[int, str, float]:
    """Exit code, output (whitespace folded) and seconds taken of one `rooftop` command."""
    started = time.monotonic()
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, " ".join(result.output.split()), time.monotonic() - started


def test_an_error_body_mid_pagination_fails_and_keeps_the_full_table(make_workspace: WorkspaceFactory) -> None:
    api = CursorPages(leases(3000), size=100)
    with TestApi(api) as server:
        root = workspace(make_workspace, server.url)
        assert rooftop(root, "sync", "hostile")[0] == 0
        api.bad[100] = Reply(body={"error": "internal", "data": None})
        code, out, _ = rooftop(root, "sync", "hostile")
    assert code == 3, out  # transient: the server said it failed; a later attempt may pass
    assert "leases: SourceUnavailable: stream 'leases' (GET /leases): the API answered with an error in the " \
           'body: error = "internal"' in out, out
    assert rows(root / "wh.duckdb", "SELECT count(*) FROM rest_api.leases") == [(3000,)]


def test_an_object_for_the_record_list_fails_and_leaves_the_record_alone(make_workspace: WorkspaceFactory) -> None:
    api = CursorPages(leases(30), size=10)
    with TestApi(api) as server:
        root = workspace(make_workspace, server.url, mode="incremental_deduped")
        assert rooftop(root, "sync", "hostile")[0] == 0
        api.bad[10] = Reply(body={"data": {"id": 1}, "next_cursor": "20"})
        code, out, _ = rooftop(root, "sync", "hostile")
    assert code == 2, out  # the API broke the stream's contract: a configuration error, not retried
    assert "the records at 'data' are an object {\"id\":1}, not a list of objects" in out, out
    assert rows(root / "wh.duckdb", "SELECT id, status FROM rest_api.leases WHERE id = 1") == [(1, "Current")]


def test_a_trickling_body_ends_within_the_deadline(make_workspace: WorkspaceFactory) -> None:
    with TestApi(lambda r: Reply(body={"data": leases(5), "next_cursor": None}, trickle=0.05)) as server:
        # The body takes ~20 s at a byte per 50 ms; the per-read timeout (5 s) alone would never fire.
        root = workspace(make_workspace, server.url, extra="    timeout_seconds: 5\n    request_deadline_seconds: 0.5")
        code, out, elapsed = rooftop(root, "sync", "hostile")
        assert len(server.requests) == 2
    assert code == 3, out
    assert "GET /leases failed 2 times; last: ReadTimeout: the request's total deadline of 0.5 s ran out" in out, out
    assert elapsed < 2 * 0.5 + 3, elapsed  # two attempts of 0.5 s, plus the CLI and DuckDB around them


def test_endless_empty_pages_stop_with_a_clear_error(make_workspace: WorkspaceFactory) -> None:
    def route(request: Request) -> Reply:
        return Reply(body={"data": [], "next_cursor": f"c{len(server.requests)}"})

    with TestApi(route) as server:
        root = workspace(make_workspace, server.url)
        code, out, elapsed = rooftop(root, "sync", "hostile")
        assert len(server.requests) == 10  # max_empty_pages' default
    assert code == 2, out
    assert "stream 'leases': 10 empty pages in a row, each pointing to another page" in out, out
    assert elapsed < 5, elapsed


@pytest.mark.parametrize("extra", [
    '    auth: {type: api_key, name: X-API-Key, key: "k-12\\0secret"}',
    '    headers: {X-Tenant: "acme\\0secret"}',
])
def test_a_nul_in_a_credential_or_header_is_a_config_error(make_workspace: WorkspaceFactory, extra: str) -> None:
    with TestApi(lambda r: Reply(body={"data": [], "next_cursor": None})) as server:
        root = workspace(make_workspace, server.url, extra=extra)
        for command in ("check", "sync"):
            code, out, _ = rooftop(root, command, "hostile")
            assert code == 2, (command, out)  # a config error: never 3, which Dagster would retry
            assert "secret" not in out, out
        assert server.requests == []


def test_a_credential_that_passes_the_yaml_checks_but_cannot_be_sent_is_still_a_config_error(
        make_workspace: WorkspaceFactory) -> None:
    # Non-ASCII is valid YAML and a valid setting, but no HTTP header can carry it: the runtime check.
    with TestApi(lambda r: Reply(body={"data": [], "next_cursor": None})) as server:
        root = workspace(make_workspace, server.url, extra='    auth: {type: api_key, key: "k-12\\u00e9secret"}')
        for command in ("check", "sync"):
            code, out, _ = rooftop(root, command, "hostile")
            assert code == 2, (command, out)
            assert "cannot send any request: source.config.auth.key holds a character that is not ASCII" in out, out
            assert "secret" not in out, out
        assert server.requests == []
