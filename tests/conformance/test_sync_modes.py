"""The four sync modes, on every destination: sync the sandbox over real HTTP, mutate it (updates,
inserts, deletes), sync again, and compare the table with what the mode promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

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
    # A small commit size: the boundary re-read check must hold across many commits too.
    root = _setup(make_workspace, sandbox, warehouse, "incremental_append", commit_every_rows=100)
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
    root = _setup(make_workspace, sandbox, warehouse, "incremental_deduped", commit_every_rows=100)
    _sync(root)
    changes = _mutate(sandbox)
    _sync(root)
    _sync(root, full_refresh=True)  # re-reading everything merges, never duplicates
    assert _leases(warehouse, live=True) == expected(sandbox.dataset.current_records("leases"))
    records = warehouse.records("sandbox", "leases") or []
    assert {r["id"] for r in records if r["_rooftop_deleted_at"]} == changes["deleted"]
    assert len(records) == len({r["id"] for r in records})
    cursor = warehouse.state("modes")["leases"]["cursor"]
    assert cursor == max(r["updated_at"] for r in sandbox.dataset.page("leases", 5000, None, None, True)[0])
