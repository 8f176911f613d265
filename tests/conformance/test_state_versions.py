"""Versioned state on every destination: each saved state carries its version, older states are
migrated when read, a state from a newer Rooftop stops the sync and stays as it was.

The versions live inside the state's JSON (protocol/state_versions.py), so what is checked here is
that each destination stores and returns them intact, read through its own `read_state`, and
that the engine's upgrade runs whatever the warehouse. The engine-only cases (the source's own
`state_version`, malformed versions, the CLI) are in tests/test_state_versions.py, on DuckDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.engine.plan import plan_streams
from pipelines.engine.runner import run_sync
from protocol.bookkeeping import SYNC_LOGS
from protocol.errors import ConfigError
from protocol.state_versions import StateMigrations
from protocol.types import SyncRecord
from tests.conformance.conftest import Warehouse
from tests.conftest import WorkspaceFactory, connection
from tests.support.versioned_source import EVOLVING, add_row, states_seen, write_workspace

POSITION = "tests.support.versioned_source:PositionSource"


def _workspace(make_workspace: WorkspaceFactory, warehouse: Warehouse, source: str = EVOLVING) -> Path:
    return write_workspace(make_workspace, warehouse.yaml(), source)


def _rename_cursor(state: dict[str, Any]) -> dict[str, Any]:
    """A version 2 of Rooftop's format, for the test: the resume point is called `position`."""
    return {"position": state.pop("cursor"), **state}


def _unchanged(state: dict[str, Any]) -> dict[str, Any]:
    return state


def test_a_saved_state_carries_its_version(make_workspace: WorkspaceFactory, warehouse: Warehouse) -> None:
    root = _workspace(make_workspace, warehouse)
    run_sync(connection(root, "sv"))
    assert warehouse.state("sv") == {"items": {"cursor": 3, "_version": 1}}


def test_an_older_state_is_migrated_and_the_sync_resumes_from_it(make_workspace: WorkspaceFactory,
                                                                 warehouse: Warehouse) -> None:
    root = _workspace(make_workspace, warehouse)
    run_sync(connection(root, "sv"))  # saves {"cursor": 3} in version 1
    # A Rooftop release whose format is version 2, and a source that reads that shape.
    root = _workspace(make_workspace, warehouse, source=POSITION)
    add_row(root, 4)
    version_2 = StateMigrations(_rename_cursor)
    with connection(root, "sv").make_source() as source, warehouse.destination() as dest:
        migrated = version_2.upgrade_all(dest.read_state("sv"), connection="sv", source=source, streams={"items"})
    assert migrated == {"items": {"position": 3}}
    result = run_sync(connection(root, "sv"), state_migrations=version_2)
    assert result.streams[0].rows_read == 2  # the boundary row 3 and the new row 4, not all four
    assert states_seen(root) == [{"position": 3}]
    assert warehouse.state("sv") == {"items": {"position": 4, "_version": 2}}
    # The re-read boundary row is not stored twice.
    assert sorted(r["id"] for r in warehouse.records("evo", "items") or []) == [1, 2, 3, 4]


def test_a_state_saved_before_versions_reads_as_version_1(make_workspace: WorkspaceFactory,
                                                          warehouse: Warehouse) -> None:
    root = _workspace(make_workspace, warehouse)
    conn = connection(root, "sv")
    with conn.make_source() as source, warehouse.destination() as dest:
        (plan,) = plan_streams(conn, source.discover(), dest.default_namespace)
        writer = dest.prepare(plan.table, "before-versions")
        writer.commit({"cursor": 2})  # what every Rooftop before versions saved
        writer.abort()
    assert warehouse.state("sv") == {"items": {"cursor": 2}}
    result = run_sync(conn)
    assert result.streams[0].rows_read == 2  # resumed from cursor 2
    assert warehouse.state("sv") == {"items": {"cursor": 3, "_version": 1}}


def test_a_state_from_a_newer_rooftop_is_refused_and_left_alone(make_workspace: WorkspaceFactory,
                                                               warehouse: Warehouse) -> None:
    root = _workspace(make_workspace, warehouse)
    run_sync(connection(root, "sv"), state_migrations=StateMigrations(*[_unchanged] * 98))  # writes version 99
    add_row(root, 4)
    with warehouse.destination() as dest:  # a sync killed mid-way: the next one that runs marks it interrupted
        dest.record_sync(SyncRecord("sv", "items", "killed", datetime.now(UTC)))

    def snapshot() -> tuple[Any, ...]:
        with warehouse.destination() as dest:
            logs = dest.read_bookkeeping(SYNC_LOGS, "sv").num_rows
        return warehouse.state("sv"), warehouse.records("evo", "items"), warehouse.syncs("sv"), logs

    before = snapshot()
    assert before[0] == {"items": {"cursor": 3, "_version": 99}}
    for full_refresh in (False, True):  # a full refresh would overwrite it: refused too
        with pytest.raises(ConfigError) as raised:
            run_sync(connection(root, "sv"), full_refresh=full_refresh)
        message = str(raised.value)
        assert all(part in message for part in ("connection sv", "stream items", "version 99", "up to version 1",
                                                "newer Rooftop", "Upgrade Rooftop")), message
        assert snapshot() == before
