"""`rooftop sync --all`: every connection that may run is synced, every other one is named with why."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.sandbox.server import SandboxServer
from tests.conftest import WorkspaceFactory
from tests.support.cli import rooftop

CONNECTION = """\
name: {name}
environment: sandbox
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}}}
destination: {{connector: duckdb, config: {{path: {name}.duckdb}}}}
namespace: src_{name}
streams: [{{name: properties}}]
{extra}
"""


def _write(root: Path, name: str, url: str, extra: str = "") -> None:
    (root / "connections" / f"{name}.yaml").write_text(CONNECTION.format(name=name, url=url, extra=extra))


def _synced(root: Path, name: str) -> int:
    path = root / f"{name}.duckdb"
    if not path.exists():
        return 0
    with duckdb.connect(str(path), read_only=True) as db:
        return int(db.execute(f"select count(*) from src_{name}.properties").fetchone()[0])  # type: ignore[index]


def test_sync_all_runs_every_connection_that_may_run_and_names_the_skipped(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONNECTION.format(name="alpha", url=sandbox.url, extra=""), name="alpha")
    _write(root, "beta", sandbox.url, "allow_manual_syncs: false\nschedule: {cron: '0 6 * * *'}")
    _write(root, "gamma", sandbox.url, "active: false")
    _write(root, "omega", sandbox.url)
    code, out = rooftop(root, "sync", "--all")
    assert code == 0, out
    assert _synced(root, "alpha") > 0 and _synced(root, "omega") > 0, out
    assert _synced(root, "beta") == 0 and _synced(root, "gamma") == 0, out
    assert "skipped beta: manual syncs are disabled (allow_manual_syncs: false)" in out, out
    assert "skipped gamma: paused (active: false)" in out, out
    assert "sync --all: 2 synced, 2 skipped (beta, gamma)" in out, out


def test_a_connection_that_fails_before_its_streams_does_not_stop_the_others(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    # `adam` sorts first and fails while planning (no such stream): before the fix `--all` stopped there.
    root = make_workspace(CONNECTION.format(name="adam", url=sandbox.url, extra="").replace(
        "streams: [{name: properties}]", "streams: [{name: no_such_stream}]"), name="adam")
    _write(root, "zed", sandbox.url)
    (root / "connections" / "broken.yaml").write_text("name: broken\nsource: {connector: sandbox}\nschedul: x\n")
    code, out = rooftop(root, "sync", "--all")
    assert code == 2, out  # a sync that ran failed on its configuration, and a file is broken
    assert _synced(root, "zed") > 0, out
    assert "no_such_stream" in out and "✗ connections/broken.yaml:3" in out, out
    assert "sync --all: 1 synced, 1 failed (adam), 1 broken file(s)" in out, out


def test_a_failed_sync_is_the_exit_code_and_skips_alone_are_not(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = make_workspace(CONNECTION.format(name="paused", url=sandbox.url, extra="active: false"), name="paused")
    code, out = rooftop(root, "sync", "--all")
    assert code == 0 and "skipped paused: paused (active: false)" in out, out
    assert "sync --all: 0 synced, 1 skipped (paused)" in out, out
    refused = CONNECTION.format(name="refused", url=sandbox.url, extra="").replace("${SANDBOX_TEST_KEY}",
                                                                                   "wrong-key-123")
    (root / "connections" / "refused.yaml").write_text(refused)
    code, out = rooftop(root, "sync", "--all")
    assert code == 2, out  # the source refused the key: a configuration to fix, as `rooftop sync refused` says
    assert "sync --all: 0 synced, 1 failed (refused), 1 skipped (paused)" in out, out
    assert "wrong-key-123" not in out
