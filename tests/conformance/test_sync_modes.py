"""The four sync modes, on every destination: sync the sandbox over real HTTP, mutate it (updates,
inserts, deletes), sync again, and compare the table with what the mode promises. Also the
`--full-refresh` flag on an incremental stream, and every sandbox stream synced in parallel."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.server import SandboxServer
from pipelines.engine.runner import run_sync
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection
from tests.warehouse_checks import LEASE_COLUMNS, expected

CONN = """\
name: modes
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {dest}
streams:
  - name: leases
    sync_mode: {mode}
"""


def _setup(make_workspace: WorkspaceFactory, sandbox: SandboxServer, warehouse: Warehouse, mode: str,
           **dest: Any) -> Path:
    return make_workspace(CONN.format(url=sandbox.url, mode=mode, dest=warehouse.yaml(**dest)))


def _sync(root: Path, full_refresh: bool = False) -> None:
    run_sync(connection(root, "modes"), full_refresh=full_refresh)


def _leases(warehouse: Warehouse, live: bool | None = None) -> Counter[tuple[Any, ...]]:
    records = warehouse.records("sandbox", "leases") or []
    if live is not None:
        records = [r for r in records if (r.get("_rooftop_deleted_at") is None) == live]
    return Counter(tuple(r[c] for c in LEASE_COLUMNS) for r in records)


def _mutate(sandbox: SandboxServer) -> dict[str, set[int]]:
    changes = sandbox.dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=11)
    return {k: set(v) for k, v in changes.items()}


def test_full_refresh_overwrite_equals_current_source(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                                      warehouse: Warehouse) -> None:
    root = _setup(make_workspace, sandbox, warehouse, "full_refresh_overwrite")
    _sync(root)
    assert _leases(warehouse) == expected(sandbox.dataset.current_records("leases"))
    _mutate(sandbox)
    _sync(root)
    assert _leases(warehouse) == expected(sandbox.dataset.current_records("leases"))


def test_full_refresh_append_keeps_every_snapshot(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                                  warehouse: Warehouse) -> None:
    root = _setup(make_workspace, sandbox, warehouse, "full_refresh_append")
    first = list(sandbox.dataset.current_records("leases"))
    _sync(root)
    _mutate(sandbox)
    _sync(root)
    assert _leases(warehouse) == expected(first) + expected(sandbox.dataset.current_records("leases"))
    assert len({r["_rooftop_sync_id"] for r in warehouse.records("sandbox", "leases") or []}) == 2


def test_incremental_append_holds_every_version_once(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                                     warehouse: Warehouse) -> None:
    # A small commit size (72 leases: four commits): the boundary re-read check must hold across
    # many commits too.
    root = _setup(make_workspace, sandbox, warehouse, "incremental_append", commit_every_rows=20)
    first = list(sandbox.dataset.current_records("leases"))
    _sync(root)
    changes = _mutate(sandbox)
    _sync(root)
    _sync(root)  # nothing changed: the inclusive cursor boundary must not add a duplicate
    changed = (changes["updated"] | changes["inserted"]) - changes["deleted"]
    new_versions = [r for r in sandbox.dataset.current_records("leases") if r["id"] in changed]
    assert _leases(warehouse, live=True) == expected(first) + expected(new_versions)
    tombstones = [r["id"] for r in warehouse.records("sandbox", "leases") or [] if r["_rooftop_deleted_at"]]
    assert Counter(tombstones) == Counter(changes["deleted"])


def test_incremental_deduped_one_row_per_key_and_soft_deletes(make_workspace: WorkspaceFactory,
                                                              sandbox: SandboxServer, warehouse: Warehouse) -> None:
    root = _setup(make_workspace, sandbox, warehouse, "incremental_deduped", commit_every_rows=20)
    _sync(root)
    changes = _mutate(sandbox)
    assert changes["updated"] and changes["inserted"] and changes["deleted"]
    latest_cursor = max(r["updated_at"] for r in sandbox.dataset.page("leases", 5000, None, None, True)[0])

    def check() -> None:
        assert _leases(warehouse, live=True) == expected(sandbox.dataset.current_records("leases"))
        records = warehouse.records("sandbox", "leases") or []
        assert {r["id"] for r in records if r["_rooftop_deleted_at"]} == changes["deleted"]
        assert len(records) == len({r["id"] for r in records})
        assert warehouse.state("modes")["leases"]["cursor"] == latest_cursor

    _sync(root)  # the incremental read alone applies updates, inserts and deletes
    check()
    _sync(root, full_refresh=True)  # re-reading everything merges, never duplicates
    check()


def test_full_refresh_flag_rereads_everything_once(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                                   warehouse: Warehouse) -> None:
    root = _setup(make_workspace, sandbox, warehouse, "incremental_append")
    _sync(root)
    before = len(warehouse.records("sandbox", "leases") or [])
    _sync(root, full_refresh=True)
    # Every record was read again; the exact versions already stored are not duplicated.
    assert len(warehouse.records("sandbox", "leases") or []) == before
    syncs = sorted(warehouse.syncs("modes"), key=lambda s: s.started_at)
    assert [s.rows_read for s in syncs if s.stream == "leases"] == [before, before]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_all_streams_in_parallel_land_exactly(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                              warehouse: Warehouse, concurrency: int) -> None:
    root = make_workspace(f"""\
        name: modes
        source:
          connector: sandbox
          config: {{base_url: "{sandbox.url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 40}}
        destination: {warehouse.yaml()}
        max_concurrency: {concurrency}
    """)
    result = run_sync(connection(root, "modes"))
    assert {s.stream for s in result.streams} == {"properties", "units", "residents", "leases", "work_orders"}
    for stream in result.streams:
        count = sandbox.dataset.record_count(stream.stream)
        assert len(warehouse.records("sandbox", stream.stream) or []) == count
        assert stream.total_rows == count
