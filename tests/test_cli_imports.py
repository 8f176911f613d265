"""`rooftop --help`, `validate --offline`, `status` and `sync` start without libraries they do not use (issue 15).

Dagster, DuckDB, pyarrow, httpx, FastAPI and SQLAlchemy cost about a second of CPU to import; the
commands that need them import them when they run. These tests run the CLI in a fresh interpreter
and look at what it imported: a set check, not a timing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from pipelines.writes import STATUSES

HEAVY = ("dagster", "duckdb", "pyarrow", "httpx", "fastapi", "sqlalchemy")
NOT_FOR_A_SYNC = ("dagster", "fastapi", "sqlalchemy", "uvicorn", "croniter", "dotenv")
"""What a `rooftop sync` of a sandbox connection into DuckDB without a schedule or a .env never needs."""
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

# One connection of each vendor connector and one of `files`: their config models are registered
# apart from the connectors (connectors/<name>/config.py), which bring httpx and pyarrow.
VENDOR_CONFIGS = {
    "buildium": '{client_id: abc, client_secret: "${BUILDIUM_SECRET:-s3cret}"}',
    "entrata": '{base_url: https://apis.entrata.com/ext/orgs/acme/v1, api_key: "${ENTRATA_KEY:-k}"}',
    "rent_manager": '{company_code: acme, username: api, password: "${RM_PASSWORD:-p}"}',
    "propertyware": '{organization_id: "1", client_id: c, client_secret: "${PW_SECRET:-s}"}',
    "rentvine": '{account: acme, access_key: a, secret: "${RV_SECRET:-s}"}',
    "files": '{streams: [{name: leases, path: "exports/*.csv.gz", primary_key: id, columns: {rent: "COLUMN_TYPE"}}]}',
}


def _vendor_workspace(root: Path, column_type: str = "decimal(12,2)") -> Path:
    (root / "connections").mkdir()
    for connector, config in VENDOR_CONFIGS.items():
        (root / "connections" / f"{connector}.yaml").write_text(
            f"name: {connector}\n"
            f"source: {{connector: {connector}, config: {config.replace('COLUMN_TYPE', column_type)}}}\n"
            "destination: {connector: duckdb, config: {path: warehouse.duckdb}}\n"
            f"namespace: {connector}\n")
    return root


PROBE = """
import json, sys
from pipelines.cli import main
sys.argv = ["rooftop", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def _run_probe(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _imported_by(*args: str, cwd: Path = REPO) -> tuple[set[str], str]:
    """The top-level packages the command imported, and its output."""
    modules, out = _modules_imported_by(*args, cwd=cwd)
    return {m.split(".")[0] for m in modules}, out


def _modules_imported_by(*args: str, cwd: Path = REPO) -> tuple[set[str], str]:
    done = _run_probe(*args, cwd=cwd)
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return set(modules), done.stdout


def _sandbox_workspace(root: Path, config: str) -> Path:
    (root / "connections").mkdir()
    (root / "connections" / "tiny.yaml").write_text(
        f"name: tiny\nsource: {{connector: sandbox, config: {{{config}}}}}\n"
        "destination: {connector: duckdb, config: {path: warehouse.duckdb}}\n"
        "namespace: tiny\nstreams: [{name: work_orders, sync_mode: full_refresh_overwrite}]\n")
    return root


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
    # Its plain cron (*/30 * * * *) and durations (30s, 15 minutes) need neither croniter nor ruamel; it
    # prints no table.
    unneeded = {"croniter", "ruamel.yaml", "rich.table"}
    assert modules.isdisjoint(unneeded), sorted(modules & unneeded)


def test_validate_offline_of_a_rest_api_connection_imports_neither_httpx_nor_pyarrow(tmp_path: Path) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "tickets.yaml").write_text(REST_API_CONNECTION)
    modules, out = _imported_by("--workspace", str(tmp_path), "validate", "--offline")
    assert "✓ tickets" in out, out
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_offline_of_every_vendor_and_a_files_connection_imports_none_of_the_heavy_libraries(
        tmp_path: Path) -> None:
    modules, out = _imported_by("--workspace", str(_vendor_workspace(tmp_path)), "validate", "--offline")
    assert all(f"✓ {connector}" in out for connector in VENDOR_CONFIGS), out
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_validate_offline_refuses_an_unknown_files_column_type_without_pyarrow(tmp_path: Path) -> None:
    """The files config checks `columns:` type names itself; the Arrow mapping is the source's."""
    done = _run_probe("--workspace", str(_vendor_workspace(tmp_path, "money")), "validate", "--offline")
    *messages, imported = done.stderr.strip().splitlines()
    error = "\n".join(messages)
    assert done.returncode != 0, done.stdout
    assert "files.yaml:2" in error and "columns" in error and "unknown type 'money'" in error, error
    assert "✓ buildium" in done.stdout, done.stdout
    assert set(json.loads(imported)).isdisjoint(HEAVY)


NOT_FOR_STATUS = tuple(set(HEAVY) - {"duckdb"})
"""`status` opens the warehouse (DuckDB) and reads state, sync history and row counts: no Arrow, no HTTP."""


def test_status_of_a_new_duckdb_warehouse_imports_neither_pyarrow_nor_http_dagster_or_sqlalchemy(
        tmp_path: Path) -> None:
    """Opening a warehouse that does not exist yet creates the `_rooftop` tables, from their plain
    column description (`protocol.bookkeeping`), not from Arrow schemas."""
    shutil.copytree(REPO / "connections", tmp_path / "connections")
    modules, out = _imported_by("--workspace", str(tmp_path), "status")
    assert "sandbox_leasing: never synced" in out and "sandbox_maintenance: never synced" in out, out
    assert modules.isdisjoint(NOT_FOR_STATUS), sorted(modules & set(NOT_FOR_STATUS))
    assert (tmp_path / "warehouse.duckdb").exists()


def test_status_of_a_synced_duckdb_warehouse_imports_neither_pyarrow_nor_http_and_shows_the_sync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the whole table, not cells cut to fit a narrow terminal
    # `counts:` is validated against the sandbox's stream names, which need no Arrow catalog.
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "tiny.yaml").write_text(
        "name: tiny\nsource: {connector: sandbox, config: {api_key: k, scale: 1, counts: {work_orders: 150}}}\n"
        "destination: {connector: duckdb, config: {path: warehouse.duckdb}}\n"
        "namespace: tiny\nstreams: [{name: work_orders, sync_mode: incremental_deduped}]\n")
    synced = _run_probe("--workspace", str(tmp_path), "sync", "tiny")
    started = re.search(r"tiny: sync (\S+)", synced.stdout)
    done = re.search(r"work_orders: succeeded, (\d+) rows", synced.stdout)
    assert synced.returncode == 0 and started and done, synced.stdout + synced.stderr
    sync_id, rows = started[1], int(done[1])
    assert rows == 150, synced.stdout
    modules, out = _imported_by("--workspace", str(tmp_path), "status")
    # stream, table, rows, the saved cursor, the last sync, its status; then the sync's summary line
    row = rf"│ work_orders +│ tiny\.work_orders +│ +{rows:,} │ \d{{4}}-\d\d-\d\dT[\d:]+Z +│ {sync_id} +│ succeeded +│"
    assert re.search(row, out), out
    assert f"{sync_id}: 1 stream(s), {rows:,} rows, ok" in out, out
    assert modules.isdisjoint(NOT_FOR_STATUS), sorted(modules & set(NOT_FOR_STATUS))


def test_sync_of_a_sandbox_connection_imports_neither_dagster_nor_the_api_nor_schedules(tmp_path: Path) -> None:
    """A sync needs DuckDB, pyarrow and httpx; not Dagster, the HTTP API, SQLAlchemy, croniter (no
    schedule) or python-dotenv (no .env)."""
    ws = _sandbox_workspace(tmp_path, "api_key: k, scale: 1, counts: {work_orders: 100}")
    modules, out = _imported_by("--workspace", str(ws), "sync", "tiny")
    assert "work_orders: succeeded, 100 rows" in out, out
    assert modules.isdisjoint(NOT_FOR_A_SYNC), sorted(modules & set(NOT_FOR_A_SYNC))


def test_sync_from_a_running_sandbox_does_not_import_the_in_process_server(tmp_path: Path) -> None:
    with SandboxServer(SandboxDataset(scale=1, counts={"work_orders": 100}), api_key="k") as server:
        ws = _sandbox_workspace(tmp_path, f"api_key: k, base_url: '{server.url}'")
        modules, out = _modules_imported_by("--workspace", str(ws), "sync", "tiny")
    assert "work_orders: succeeded, 100 rows" in out, out
    assert modules.isdisjoint({"connectors.sandbox.server", "connectors.sandbox.dataset", "http.server"}), \
        sorted(m for m in modules if m.startswith(("connectors.sandbox", "http.")))


def test_writes_help_lists_every_write_state() -> None:
    _modules, out = _imported_by("writes", "--help")
    assert all(state in out for state in STATUSES), out


def test_the_sdk_a_plugins_config_module_imports_is_light_until_a_runtime_name_is_used() -> None:
    probe = ("import json, sys\n"
             "import connectors.sdk\n"
             "from connectors.sdk import RetryConfig, ConfigError, SourceContext\n"
             "light = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
             "from connectors.sdk import client_for, records_to_batch\n"
             "used = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
             "print(json.dumps([light, used]))\n")
    run = subprocess.run([sys.executable, "-c", probe, *HEAVY], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    light, used = json.loads(run.stdout)
    assert light == []
    assert {"httpx", "pyarrow"} <= set(used)
