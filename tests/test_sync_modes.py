"""Each sync mode over real HTTP: sync, mutate the sandbox (updates, inserts, deletes), sync again,
and compare the warehouse with what the mode promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from connectors.sandbox.server import SandboxServer
from pipelines.engine.runner import run_sync
from tests.conftest import WorkspaceFactory, connection
from tests.warehouse_checks import expected, rows, table_rows

CONN = """\
name: modes
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - name: leases
    sync_mode: {mode}
"""
TABLE = "sandbox.leases"


def _setup(make_workspace: WorkspaceFactory, sandbox: SandboxServer, mode: str) -> tuple[Path, Path]:
    root = make_workspace(CONN.format(url=sandbox.url, mode=mode))
    return root, root / "wh.duckdb"


def _sync(root: Path, full_refresh: bool = False) -> None:
    run_sync(connection(root, "modes"), full_refresh=full_refresh)


def _mutate(sandbox: SandboxServer) -> dict[str, set[int]]:
    changes = sandbox.dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=11)
    return {k: set(v) for k, v in changes.items()}


def _current(sandbox: SandboxServer) -> list[dict]:
    return list(sandbox.dataset.current_records("leases"))


def test_full_refresh_overwrite_equals_current_source(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root, db = _setup(make_workspace, sandbox, "full_refresh_overwrite")
    _sync(root)
    assert table_rows(db, TABLE) == expected(_current(sandbox))
    _mutate(sandbox)
    _sync(root)
    assert table_rows(db, TABLE) == expected(_current(sandbox))


def test_full_refresh_append_keeps_every_snapshot(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root, db = _setup(make_workspace, sandbox, "full_refresh_append")
    first = _current(sandbox)
    _sync(root)
    _mutate(sandbox)
    _sync(root)
    assert table_rows(db, TABLE) == expected(first) + expected(_current(sandbox))
    assert rows(db, f"SELECT count(DISTINCT _rooftop_sync_id) FROM {TABLE}") == [(2,)]


def test_incremental_append_holds_every_version_seen(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root, db = _setup(make_workspace, sandbox, "incremental_append")
    first = _current(sandbox)
    _sync(root)
    changes = _mutate(sandbox)
    _sync(root)
    _sync(root)  # nothing changed: the inclusive cursor boundary must not add a duplicate
    changed = (changes["updated"] | changes["inserted"]) - changes["deleted"]
    new_versions = [r for r in _current(sandbox) if r["id"] in changed]
    live = table_rows(db, TABLE, where="_rooftop_deleted_at IS NULL")
    assert live == expected(first) + expected(new_versions)
    tombstones = rows(db, f"SELECT id FROM {TABLE} WHERE _rooftop_deleted_at IS NOT NULL")
    assert Counter(i for (i,) in tombstones) == Counter(changes["deleted"])


def test_incremental_deduped_one_row_per_key_and_soft_deletes(make_workspace: WorkspaceFactory,
                                                              sandbox: SandboxServer) -> None:
    root, db = _setup(make_workspace, sandbox, "incremental_deduped")
    _sync(root)
    changes = _mutate(sandbox)
    assert changes["updated"] and changes["inserted"] and changes["deleted"]
    _sync(root)
    assert table_rows(db, TABLE, where="_rooftop_deleted_at IS NULL") == expected(_current(sandbox))
    deleted = rows(db, f"SELECT id FROM {TABLE} WHERE _rooftop_deleted_at IS NOT NULL")
    assert {i for (i,) in deleted} == changes["deleted"]
    assert rows(db, f"SELECT count(*) = count(DISTINCT id) FROM {TABLE}") == [(True,)]
    state = rows(db, "SELECT state->>'cursor' FROM _rooftop.state WHERE stream = 'leases' ORDER BY seq DESC LIMIT 1")
    assert state[0][0] == max(r["updated_at"] for r in sandbox.dataset.page(
        "leases", 5000, None, None, True)[0])


def test_full_refresh_flag_rereads_everything_once(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root, db = _setup(make_workspace, sandbox, "incremental_append")
    _sync(root)
    before = rows(db, f"SELECT count(*) FROM {TABLE}")[0][0]
    _sync(root, full_refresh=True)
    # Every record was read again; the exact versions already stored are not duplicated.
    assert rows(db, f"SELECT count(*) FROM {TABLE}")[0][0] == before
    syncs = rows(db, "SELECT rows_read FROM _rooftop.syncs WHERE stream = 'leases' ORDER BY started_at")
    assert [r for (r,) in syncs] == [before, before]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_all_streams_in_parallel_land_exactly(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                              concurrency: int) -> None:
    root = make_workspace(f"""\
        name: modes
        source:
          connector: sandbox
          config: {{base_url: "{sandbox.url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 40}}
        destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
        max_concurrency: {concurrency}
    """)
    result = run_sync(connection(root, "modes"))
    assert {s.stream for s in result.streams} == {"properties", "units", "residents", "leases", "work_orders"}
    for stream in result.streams:
        count = sandbox.dataset.record_count(stream.stream)
        assert rows(root / "wh.duckdb", f"SELECT count(*) FROM sandbox.{stream.stream}") == [(count,)]
        assert stream.total_rows == count
