"""Write-back through `rooftop write`: validated per target system, sent, recorded, re-read.

Against the real sandbox API over HTTP (both variants: `full` takes `notes` on residents, `limited`
refuses them like a stricter PMS) and a real DuckDB warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import pipelines.cli.write_commands  # noqa: F401 - registers `rooftop write` and `rooftop writes`
from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.writes import Variant, write_declaration
from protocol.errors import ConfigError
from protocol.writes import WriteOperation, validate_write
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.cli import rooftop

CONN = """\
name: {name}
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "{key}", variant: {variant},
            retries: {{attempts: 4, initial_delay: 0.01, max_delay: 0.05}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
"""


def _server(variant: Variant) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY, variant=variant) as server:
        yield server


@pytest.fixture
def full() -> Iterator[SandboxServer]:
    yield from _server("full")


@pytest.fixture
def limited() -> Iterator[SandboxServer]:
    yield from _server("limited")


def _workspace(make: WorkspaceFactory, server: SandboxServer, name: str = "pms", key: str = API_KEY) -> Path:
    return make(CONN.format(name=name, url=server.url, key=key, variant=server.variant), name=name)



def _writes(root: Path) -> list[dict[str, object]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        cur = db.execute("SELECT * FROM _rooftop.writes ORDER BY recorded_at")
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_notes_on_a_resident_are_accepted_by_the_full_sandbox(make_workspace: WorkspaceFactory,
                                                               full: SandboxServer) -> None:
    root = _workspace(make_workspace, full)
    assert rooftop(root, "sync", "pms")[0] == 0
    code, output = rooftop(root, "write", "residents", "sandbox:pms:3",
                            "--data", '{"phone": "555-0199", "notes": "prefers email"}')
    assert code == 0, output
    assert "succeeded" in output
    resident = full.dataset.get("residents", 3)
    assert resident is not None and resident["phone"] == "555-0199" and resident["notes"] == "prefers email"
    # The warehouse already shows the new phone number: the write re-read the record.
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("SELECT phone FROM sandbox.residents WHERE id = 3").fetchall() == [("555-0199",)]
        assert db.execute("SELECT count(*) FROM sandbox.residents").fetchall() == [(30,)]  # merged, not added
    statuses = [row["status"] for row in _writes(root)]
    assert statuses == ["queued", "running", "succeeded"]


def test_the_limited_sandbox_refuses_notes_unless_told_to_ignore_them(make_workspace: WorkspaceFactory,
                                                                      limited: SandboxServer) -> None:
    root = _workspace(make_workspace, limited)
    payload = '{"phone": "555-0142", "notes": "prefers email"}'
    code, output = rooftop(root, "write", "residents", "3", "--connection", "pms", "--data", payload)
    assert code == 2, output
    assert "notes" in output and "sandbox (limited)" in output
    assert not any(method == "PUT" for _, method, _, _ in limited.request_log)  # refused before sending
    code, output = rooftop(root, "write", "residents", "3", "--connection", "pms", "--data", payload,
                            "--ignore-unknown-fields")
    assert code == 0, output
    assert "ignored (not accepted by the target system): notes" in output
    resident = limited.dataset.get("residents", 3)
    assert resident is not None and resident["phone"] == "555-0142" and "notes" not in resident
    assert json.loads(str(_writes(root)[-1]["ignored_fields"])) == ["notes"]


def test_the_limited_sandbox_server_itself_refuses_creating_units() -> None:
    """The server checks what its variant accepts, as a PMS would, whoever sends the write."""
    with pytest.raises(ConfigError, match=r"sandbox \(limited\) does not allow create on units"):
        validate_write(write_declaration("limited"), "units", WriteOperation.CREATE,
                       {"property_id": 1, "unit_number": "9A"})
    full = validate_write(write_declaration("full"), "units", "create", {"property_id": 1, "unit_number": "9A"})
    assert full.payload == {"property_id": 1, "unit_number": "9A"}


def test_a_write_during_503s_is_retried_and_succeeds(make_workspace: WorkspaceFactory, full: SandboxServer) -> None:
    root = _workspace(make_workspace, full)
    full.set_faults(fail_first=2, status=503)
    code, output = rooftop(root, "write", "residents", "sandbox:pms:5", "--data", '{"phone": "555-0100"}')
    assert code == 0, output
    puts = [status for _, method, _, status in full.request_log if method == "PUT"]
    assert puts == [503, 503, 200]
    assert _writes(root)[-1]["attempts"] == 3


def test_a_wrong_key_fails_with_the_pms_status_and_never_lands_in_the_warehouse(
        make_workspace: WorkspaceFactory, full: SandboxServer) -> None:
    wrong = "wrong-key-3c1d9e"
    root = _workspace(make_workspace, full, key=wrong)
    code, output = rooftop(root, "write", "residents", "sandbox:pms:3", "--data", '{"phone": "555-0111"}')
    assert code == 2, output
    assert "401" in output and wrong not in output
    rows = _writes(root)
    assert rows[-1]["status"] == "failed" and "401" in str(rows[-1]["error"])
    assert wrong not in json.dumps(rows, default=str)
    code, output = rooftop(root, "writes", "--status", "failed")
    assert code == 0 and "failed" in output, output


def test_a_bare_vendor_id_is_looked_up_in_the_warehouse(make_workspace: WorkspaceFactory, full: SandboxServer) -> None:
    root = _workspace(make_workspace, full)
    code, output = rooftop(root, "write", "residents", "3", "--data", '{"phone": "555-0123"}')
    assert code == 2 and "no connection" in output and "'3'" in output and "pms" in output, output
    assert not any(method == "PUT" for _, method, _, _ in full.request_log)  # not synced yet: nothing sent
    assert rooftop(root, "sync", "pms")[0] == 0
    code, output = rooftop(root, "write", "residents", "3", "--data", '{"phone": "555-0123"}')
    assert code == 0 and "on pms" in output, output
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("SELECT phone FROM sandbox.residents WHERE id = 3").fetchall() == [("555-0123",)]
