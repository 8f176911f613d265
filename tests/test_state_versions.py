"""Versioned state in the engine, on a real DuckDB warehouse (protocol/state_versions.py, docs/state.md).

The cases every destination shares (the version stored with the state, Rooftop's chain migrating
an older state, a newer one refused) are in tests/conformance/test_state_versions.py. Here: the
raw row in `_rooftop.state`, a connector's own `state_version` and `migrate_state`, sources never
seeing Rooftop's keys, states that no Rooftop wrote, and what the CLI says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli.app import app
from pipelines.engine.runner import run_sync
from protocol.errors import ConfigError, SyncFailed
from protocol.state_versions import StateMigrations
from tests.conftest import WorkspaceFactory, connection
from tests.support.versioned_source import add_row, states_seen, write_workspace

DUCKDB = '{connector: duckdb, config: {path: wh.duckdb}}'
MIGRATING = "tests.support.versioned_source:MigratingPositionSource"


def _workspace(make_workspace: WorkspaceFactory, source: str = "tests.conformance.evolving_source:EvolvingSource",
               extra_state: dict[str, Any] | None = None) -> Path:
    return write_workspace(make_workspace, DUCKDB, source, extra_state)


def _stored(root: Path) -> dict[str, Any]:
    """The newest `_rooftop.state` row of the stream, as the JSON DuckDB holds."""
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        row = con.execute("SELECT CAST(state AS VARCHAR) FROM _rooftop.state WHERE connection = 'sv' "
                          "AND stream = 'items' ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None
    return dict(json.loads(row[0]))


def _store(root: Path, state: dict[str, Any]) -> None:
    """Write a state row the way another program (an older or newer Rooftop) left it."""
    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.execute("INSERT INTO _rooftop.state SELECT 'sv', 'items', CAST(? AS JSON), 'elsewhere', max(seq) + 1, "
                    "now() FROM _rooftop.state", [json.dumps(state)])


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def test_the_stored_row_carries_version_1_and_status_still_shows_the_cursor(
        make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))
    assert _stored(root) == {"cursor": 3, "_version": 1}
    code, out = _cli(root, "status", "sv")
    assert code == 0, out
    (line,) = [ln for ln in out.splitlines() if "items" in ln and "evo.items" in ln]
    assert line.split("│")[4].strip() == "3", out  # the cursor column


def test_rooftops_chain_migrates_a_row_saved_before_versions(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))
    _store(root, {"cursor": 2})  # as every Rooftop before versions saved it
    version_2 = StateMigrations(lambda state: {"position": state.pop("cursor"), **state})
    with connection(root, "sv").make_source() as source, connection(root, "sv").make_destination() as dest:
        stored = dest.read_state("sv")
        assert version_2.upgrade_all(stored, connection="sv", source=source, streams={"items"}) == \
            {"items": {"position": 2}}
        assert StateMigrations().upgrade_all(stored, connection="sv", source=source, streams={"items"}) == \
            {"items": {"cursor": 2}}


def test_a_connectors_own_version_migrates_its_state(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))  # the connector before it versioned its state: {"cursor": 3}
    root = _workspace(make_workspace, source=MIGRATING)
    add_row(root, 4)
    result = run_sync(connection(root, "sv"))
    assert result.streams[0].rows_read == 2  # resumed from the migrated position 3, not from the start
    assert _stored(root) == {"position": 4, "_version": 1, "_source_version": 2}
    add_row(root, 5)
    assert run_sync(connection(root, "sv")).streams[0].rows_read == 2  # stored in version 2: read as is
    assert states_seen(root) == [{"position": 3}, {"position": 4}]  # never a `_version` key


def test_a_state_from_a_newer_connector_is_refused(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace, source=MIGRATING)
    run_sync(connection(root, "sv"))
    _store(root, {"position": 3, "_version": 1, "_source_version": 3})
    with pytest.raises(ConfigError, match=r"connection sv, stream items: .*version 3 of the migrating_position "
                                          r"connector's state.* up to version 2"):
        run_sync(connection(root, "sv"))
    assert states_seen(root) == [None]  # the source never read from it


@pytest.mark.parametrize(("state", "source", "error"), [
    ({"cursor": 3, "_version": "two"}, None, r"_version is 'two', not a version number"),
    ({"cursor": 3, "_version": 0}, None, r"_version is 0, not a version number"),
    ({"position": 3, "_version": 1, "_source_version": True}, MIGRATING, r"_source_version is True"),
    ({"cursor": 3, "_version": 1}, "tests.support.versioned_source:UnmigratedPositionSource",
     r"declares state_version 2 but has no migrate_state to upgrade a saved state of version 1"),
])
def test_a_state_no_rooftop_could_read_is_a_config_error(make_workspace: WorkspaceFactory, state: dict[str, Any],
                                                         source: str | None, error: str) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))
    _store(root, state)
    if source:
        root = _workspace(make_workspace, source=source)
    with pytest.raises(ConfigError, match=r"connection sv, stream items: .*" + error):
        run_sync(connection(root, "sv"))
    assert _stored(root) == state


def test_a_failing_migration_names_the_stream_and_the_step(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))
    broken = StateMigrations(lambda state: {"position": state["no such key"]})
    with pytest.raises(ConfigError, match=r"connection sv, stream items: Rooftop's state migration from "
                                          r"version 1 failed: KeyError"):
        run_sync(connection(root, "sv"), state_migrations=broken)
    assert _stored(root) == {"cursor": 3, "_version": 1}


def test_a_source_checkpointing_a_reserved_key_fails_its_stream(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace, extra_state={"_version": 7})
    with pytest.raises(SyncFailed, match=r"reserved key\(s\) _version"):
        run_sync(connection(root, "sv"))


def test_the_cli_exits_2_with_the_versions_when_rooftop_is_too_old(make_workspace: WorkspaceFactory) -> None:
    root = _workspace(make_workspace)
    run_sync(connection(root, "sv"))
    _store(root, {"cursor": 3, "_version": 99})
    code, out = _cli(root, "sync", "sv")
    assert code == 2, out
    flat = " ".join(out.split())
    assert "connection sv, stream items: the saved state is in version 99 of Rooftop's state format" in flat, out
    assert "this one reads up to version 1. Upgrade Rooftop" in flat, out
    assert _stored(root) == {"cursor": 3, "_version": 99}
