"""Configurations that used to fail late, silently or noisily, driven through the `rooftop` CLI.

Each case runs against real things: the sandbox API or a tiny API on 127.0.0.1, real DuckDB files
and a real PostgreSQL server. A config error must be found before anything is written (exit 2,
file:line, the warehouse unchanged); a cursor the records never carry must fail the stream instead
of appending the same rows at every sync; and no path prints a traceback without `--debug`.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from dagster import AssetKey
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from pipelines.dagster import build_definitions
from tests.conftest import API_KEY
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures
from tests.support.http_api import Reply, Request, TestApi
from tests.test_plan_checks import (
    NO_CURSOR,  # a catalog whose default cursor is not in its schema
)


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def _write(root: Path, name: str, text: str) -> None:
    (root / "connections").mkdir(parents=True, exist_ok=True)
    (root / "connections" / f"{name}.yaml").write_text(textwrap.dedent(text))
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pg_snapshot(url: str) -> list[tuple[Any, ...]]:
    """Every table of the database with its row count: the catalog and the data a sync could touch."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()
        return [(s, t, conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()) for s, t in tables]


PG_CONN = """\
name: pg
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}}}
destination: {{connector: postgres, config: {{url: "{pg}"}}}}
namespace: raw
prefix: {prefix}
streams:
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: properties, sync_mode: full_refresh_overwrite}}
"""


def test_a_postgres_name_past_63_bytes_fails_before_any_write(tmp_path: Path, sandbox: SandboxServer,
                                                             postgres_url: str) -> None:  # noqa: F811
    _write(tmp_path, "pg", PG_CONN.format(url=sandbox.url, pg=postgres_url, prefix='""'))
    assert _cli(tmp_path, "sync", "pg")[0] == 0
    before = _pg_snapshot(postgres_url)
    # 54 + len("units") fits; 54 + len("properties") = 64 bytes does not. It used to be found when
    # `properties` was created, after `units` had been rewritten: exit 1 and a traceback.
    _write(tmp_path, "pg", PG_CONN.format(url=sandbox.url, pg=postgres_url, prefix="p" * 54))
    code, out = _cli(tmp_path, "sync", "pg")
    assert code == 2, out
    assert "connections/pg.yaml:8: streams[1].name: table name" in out and "64 bytes" in out
    assert "Traceback" not in out
    assert _pg_snapshot(postgres_url) == before
    code, out = _cli(tmp_path, "validate", "pg")
    assert code == 2 and "connections/pg.yaml:8: streams[1].name" in out


SHARED = """\
name: {name}
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}}}
destination: {{connector: duckdb, config: {{path: {path}}}}}
namespace: raw
streams:
  - {{name: properties, sync_mode: full_refresh_overwrite}}
"""


def test_two_files_landing_one_table_are_refused_alike_by_validate_sync_and_dagster(
        tmp_path: Path, sandbox: SandboxServer) -> None:
    _write(tmp_path, "a_first", SHARED.format(name="a_first", url=sandbox.url, path="wh.duckdb"))
    _write(tmp_path, "b_second", SHARED.format(name="b_second", url=sandbox.url, path="./wh.duckdb"))
    assert _cli(tmp_path, "sync", "a_first")[0] == 0  # the first file owns raw.properties
    digest = _digest(tmp_path / "wh.duckdb")
    expected = ("connections/b_second.yaml:6: streams[0].name: table raw.properties is already synced by "
                "connection 'a_first' (connections/a_first.yaml:6) into the same warehouse")
    code, out = _cli(tmp_path, "validate")
    assert code == 2 and expected in out, out
    code, out = _cli(tmp_path, "sync", "b_second")
    assert code == 2 and expected in out, out
    code, out = _cli(tmp_path, "sync", "b_second", "--stream", "properties")  # one stream: the same check
    assert code == 2 and expected in out, out
    assert _digest(tmp_path / "wh.duckdb") == digest
    # Dagster loads the first and reports the second as broken, with the message validate prints.
    defs = build_definitions(tmp_path)
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert specs[AssetKey(["raw", "properties"])].group_name == "a_first"
    assert expected in (specs[AssetKey(["rooftop_broken", "b_second"])].description or "")
    # In its own warehouse the second file may sync; only Dagster's asset keys still clash.
    _write(tmp_path, "b_second", SHARED.format(name="b_second", url=sandbox.url, path="other.duckdb"))
    assert _cli(tmp_path, "sync", "b_second")[0] == 0
    code, out = _cli(tmp_path, "validate")
    assert code == 2 and "into another warehouse: Dagster" in out


def test_a_cursor_missing_from_the_catalog_schema_is_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, "nc", NO_CURSOR)
    duckdb.connect(str(tmp_path / "wh.duckdb")).close()
    digest = _digest(tmp_path / "wh.duckdb")
    for command in ("validate", "sync"):
        code, out = _cli(tmp_path, command, "nc")
        assert code == 2, out
        assert "connections/nc.yaml:6: streams[0].sync_mode:" in out and "'updated'" in out
    assert _digest(tmp_path / "wh.duckdb") == digest


RENTALS = """\
name: rentals
source:
  connector: rest_api
  config:
    base_url: "{url}"
    paginator: {{type: none}}
    records: $
    streams:
      - name: rentals
        path: /rentals
        primary_key: id
        incremental: {{cursor_field: updated, param: lastupdatedfrom}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: rentals, sync_mode: incremental_append}}
"""


def _rentals_api(records: list[dict[str, Any]]) -> TestApi:
    def route(request: Request) -> Reply:
        return Reply(body=records)  # filtered server-side on `lastupdatedfrom`, like Buildium

    return TestApi(route)


def _rows_and_state(db: Path) -> tuple[int, list[Any]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        exists = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'rentals'").fetchone()
        rows = conn.execute("SELECT count(*) FROM rest_api.rentals").fetchone()[0] if exists and exists[0] else 0
        state = conn.execute("SELECT * FROM _rooftop.state").fetchall()
    return rows, state


def test_records_that_never_carry_the_cursor_fail_the_stream_instead_of_appending_again(tmp_path: Path) -> None:
    records = [{"id": i, "name": f"rental {i}"} for i in range(1, 158)]  # Buildium: 157 ids, no updated field
    with _rentals_api(records) as api:
        _write(tmp_path, "rentals", RENTALS.format(url=api.url))
        for _ in range(2):
            code, out = _cli(tmp_path, "sync", "rentals")
            assert code == 2, out  # a configuration problem: no cursor to save, fix the YAML
            assert "stream 'rentals'" in out and "cursor field 'updated'" in out and "full_refresh" in out
            assert "Traceback" not in out
            assert _rows_and_state(tmp_path / "wh.duckdb") == (0, [])  # nothing committed, no state


def test_an_incremental_read_of_nothing_new_and_some_null_cursors_still_succeed(tmp_path: Path) -> None:
    with _rentals_api([]) as api:
        _write(tmp_path, "rentals", RENTALS.format(url=api.url))
        code, out = _cli(tmp_path, "sync", "rentals")
        assert code == 0, out
    mixed = [{"id": 1, "updated": None}, {"id": 2, "updated": "2024-05-01T00:00:00Z"}]
    with _rentals_api(mixed) as api:
        _write(tmp_path, "rentals", RENTALS.format(url=api.url))
        code, out = _cli(tmp_path, "sync", "rentals")
        assert code == 0, out
        rows, state = _rows_and_state(tmp_path / "wh.duckdb")
        assert rows == 2 and "2024-05-01T00:00:00Z" in str(state)


PG_LEASES = """\
name: pgfail
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}}}
destination: {{connector: postgres, config: {{url: "{pg}"}}}}
namespace: raw
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
"""


def test_a_postgres_stream_failure_shows_a_traceback_only_with_debug(tmp_path: Path, sandbox: SandboxServer,
                                                                     postgres_url: str) -> None:  # noqa: F811
    _write(tmp_path, "pgfail", PG_LEASES.format(url=sandbox.url, pg=postgres_url))
    assert _cli(tmp_path, "sync", "pgfail")[0] == 0
    # A DBA's constraint the next merge violates: the MERGE fails inside Postgres.
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("ALTER TABLE raw.leases ADD CONSTRAINT no_new_rows CHECK (id < 0) NOT VALID")
    code, out = _cli(tmp_path, "sync", "pgfail", "--full-refresh")
    assert code == 1, out
    assert "leases" in out and "no_new_rows" in out
    assert "Traceback" not in out
    code, out = _cli(tmp_path, "--debug", "sync", "pgfail", "--full-refresh")
    assert code == 1 and "Traceback" in out
