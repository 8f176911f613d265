"""`rooftop --help`, `validate --offline` and `status` start without the heavy libraries (issue 15 item 4).

Dagster, DuckDB, pyarrow, httpx, FastAPI and SQLAlchemy cost about a second of CPU to import; the
commands that need them import them when they run. These tests run the CLI in a fresh interpreter
and look at what it imported: a set check, not a timing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pipelines.writes import STATUSES

HEAVY = ("dagster", "duckdb", "pyarrow", "httpx", "fastapi", "sqlalchemy")
REPO = Path(__file__).resolve().parent.parent

REST_API_CONNECTION = """\
name: tickets
source:
  connector: rest_api
  config:
    base_url: https://tickets.example.com/api
    auth: {type: oauth2_client_credentials, token_url: https://tickets.example.com/token, client_id: rooftop,
           client_secret: "${TICKETS_SECRET:-s3cret}"}
    paginator: {type: cursor, cursor_path: next, cursor_param: after}
    records: data
    streams: [{name: tickets, path: /tickets, primary_key: [id]}]
destination: {connector: duckdb, config: {path: warehouse.duckdb}}
namespace: tickets
streams: [{name: tickets, sync_mode: full_refresh_overwrite}]
"""

PROBE = """
import json, sys
from pipelines.cli import main
sys.argv = ["rooftop", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)), file=sys.stderr)
"""


def _imported_by(*args: str, cwd: Path = REPO) -> tuple[set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return set(modules), done.stdout


def test_help_imports_none_of_the_heavy_libraries() -> None:
    modules, out = _imported_by("--help")
    assert "sync" in out and "validate" in out  # every command group is still registered
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_offline_on_the_demo_workspace_imports_none_of_the_heavy_libraries() -> None:
    """Loading the connection files reads only the connectors' config models (their registered
    `rooftop.source_configs` / `destination_configs`), and the collision check decides from the YAML."""
    modules, out = _imported_by("validate", "--offline")
    assert "✓ sandbox_leasing" in out and "✓ sandbox_maintenance" in out, out
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_offline_of_a_rest_api_connection_imports_neither_httpx_nor_pyarrow(tmp_path: Path) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "tickets.yaml").write_text(REST_API_CONNECTION)
    modules, out = _imported_by("--workspace", str(tmp_path), "validate", "--offline")
    assert "✓ tickets" in out, out
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_status_on_a_duckdb_warehouse_imports_no_http_dagster_or_sqlalchemy(tmp_path: Path) -> None:
    """`status` opens the warehouse (DuckDB's own library is imported; so is pyarrow, still imported
    by the DuckDB destination's modules) and reads state and sync history: nothing else heavy."""
    shutil.copytree(REPO / "connections", tmp_path / "connections")
    modules, out = _imported_by("--workspace", str(tmp_path), "status")
    assert "sandbox_leasing" in out, out
    assert modules.isdisjoint(set(HEAVY) - {"duckdb", "pyarrow"}), sorted(modules & set(HEAVY))


def test_writes_help_lists_every_write_state() -> None:
    _modules, out = _imported_by("writes", "--help")
    assert all(state in out for state in STATUSES), out
