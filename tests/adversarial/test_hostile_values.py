"""Hostile values and files through the `rooftop` CLI, into real DuckDB files and a real Postgres.

Each case once broke a sync: a NUL in one string failed a Postgres stream at every sync forever; a
JSON type changing mid-file failed the whole connection with `ArrowInvalid` and no file named; a
damaged file took every stream down; a DuckDB file named like its namespace made every statement
ambiguous. Now the value is nulled and recorded in `_rooftop_meta`, the damaged file fails its own
stream only (naming it), and any file name works with any namespace.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from tests.conftest import WorkspaceFactory, connection

FILES_CONN = """\
name: hostile
source:
  connector: files
  config:
    streams:
{streams}
destination: {dest}
streams:
{modes}
"""


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def _files_workspace(make_workspace: WorkspaceFactory, dest: dict[str, Any], streams: dict[str, str],
                     mode: str = "incremental_append") -> Path:
    """A `files` connection with one stream per {name: path glob}, each in `mode`."""
    root = make_workspace(FILES_CONN.format(
        streams="\n".join(f"      - {{name: {n}, path: \"{p}\"}}" for n, p in streams.items()),
        dest=json.dumps(dest), modes="\n".join(f"  - {{name: {n}, sync_mode: {mode}}}" for n in streams)),
        name="hostile")
    (root / "in").mkdir(exist_ok=True)
    return root


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _duck(path: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _pg(url: str) -> psycopg.Connection[dict[str, Any]]:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, row_factory=dict_row)


def _errors(row: dict[str, Any]) -> dict[str, Any]:
    meta = row["_rooftop_meta"]
    return {} if meta is None else {e["field"]: e for e in json.loads(meta)["errors"]}


def test_nul_in_text_and_json_into_postgres(make_workspace: WorkspaceFactory, postgres_url: str) -> None:
    root = _files_workspace(make_workspace, {"connector": "postgres", "config": {"url": postgres_url}},
                            {"notes": "in/notes*.jsonl"})
    _jsonl(root / "in/notes1.jsonl", [
        {"id": 1, "body": "clean", "extra": {"tag": "a"}},
        {"id": 2, "body": "bad\u0000byte", "extra": {"tag": "b"}},
        {"id": 3, "body": "ok", "extra": {"tag": "nul\u0000in json", "n": [1]}}])
    code, out = _cli(root, "sync", "hostile")
    assert code == 0, out
    with _pg(postgres_url) as pg:
        rows = {r["id"]: r for r in pg.execute("SELECT * FROM files.notes").fetchall()}
    assert rows[1]["body"] == "clean" and rows[1]["extra"]["tag"] == "a" and _errors(rows[1]) == {}
    assert rows[2]["body"] is None and rows[2]["extra"]["tag"] == "b"
    assert set(_errors(rows[2])) == {"body"} and "U+0000" in _errors(rows[2])["body"]["error"]
    assert rows[3]["body"] == "ok" and rows[3]["extra"] is None and set(_errors(rows[3])) == {"extra"}
    # The stream is not stuck: a new file with another NUL syncs as well.
    _jsonl(root / "in/notes2.jsonl", [{"id": 4, "body": "\u0000", "extra": None}])
    os.utime(root / "in/notes2.jsonl", (2_000_000_000, 2_000_000_000))
    code, out = _cli(root, "sync", "hostile")
    assert code == 0, out
    with _pg(postgres_url) as pg:
        assert pg.execute("SELECT count(*) AS n FROM files.notes").fetchone() == {"n": 4}


def test_json_type_changing_mid_file(make_workspace: WorkspaceFactory) -> None:
    root = _files_workspace(make_workspace, {"connector": "duckdb", "config": {"path": "wh.duckdb"}},
                            {"orders": "in/orders.jsonl"}, mode="full_refresh_overwrite")
    _jsonl(root / "in/orders.jsonl", [{"id": i, "qty": 5} for i in range(1, 5)]
           + [{"id": 5, "qty": "7.5"}, {"id": 6, "qty": "8"}, {"id": 7, "qty": [1]}])
    code, out = _cli(root, "sync", "hostile")
    assert code == 0, out
    rows = {r["id"]: r for r in _duck(root / "wh.duckdb", "SELECT * FROM files.orders")}
    assert [rows[i]["qty"] for i in range(1, 5)] == [5, 5, 5, 5] and rows[6]["qty"] == 8
    assert rows[5]["qty"] is None and _errors(rows[5])["qty"]["value"] == "7.5"
    assert rows[7]["qty"] is None and set(_errors(rows[7])) == {"qty"}
    assert sum(bool(r["_rooftop_meta"]) for r in rows.values()) == 2


@pytest.mark.parametrize("dest", ["duckdb", "postgres"])
def test_out_of_range_numbers_and_dates(make_workspace: WorkspaceFactory, request: pytest.FixtureRequest,
                                        dest: str) -> None:
    config = {"path": "wh.duckdb"} if dest == "duckdb" else {"url": request.getfixturevalue("postgres_url")}
    root = _files_workspace(make_workspace, {"connector": dest, "config": config}, {"m": "in/m.jsonl"})
    conn = root / "connections/hostile.yaml"
    conn.write_text(conn.read_text().replace('path: "in/m.jsonl"}', 'path: "in/m.jsonl", columns: '
                                             '{n: int64, due: date, at: timestamptz}}'))
    _jsonl(root / "in/m.jsonl", [
        {"id": 1, "n": 1, "due": "2024-01-31", "at": "2024-01-01T00:00:00Z"},
        {"id": 2, "n": 123456789012345678901234567890, "due": "0000-02-01",
         "at": "10000-01-01T00:00:00Z"}])
    code, out = _cli(root, "sync", "hostile")
    assert code == 0, out
    sql = "SELECT id, n, CAST(due AS VARCHAR) AS due, _rooftop_meta FROM files.m ORDER BY id"
    if dest == "duckdb":
        rows = _duck(root / "wh.duckdb", sql)
    else:
        with _pg(config["url"]) as pg:
            rows = pg.execute(sql).fetchall()
    assert (rows[0]["n"], rows[0]["due"], rows[0]["_rooftop_meta"]) == (1, "2024-01-31", None)
    assert (rows[1]["n"], rows[1]["due"]) == (None, None)
    assert set(_errors(rows[1])) == {"n", "due", "at"}, rows
    with connection(root, "hostile").make_destination() as destination:
        (record,) = destination.recent_syncs("hostile")
    assert (record.status, record.error_count) == ("succeeded", 3), rows



def test_unreadable_files_fail_only_their_stream(make_workspace: WorkspaceFactory) -> None:
    root = _files_workspace(make_workspace, {"connector": "duckdb", "config": {"path": "wh.duckdb"}}, {
        "good": "in/good.jsonl", "gz": "in/gz/*.jsonl.gz", "junk": "in/junk.jsonl", "quote": "in/quote.csv"})
    _jsonl(root / "in/good.jsonl", [{"id": 1}, {"id": 2}])
    (root / "in/gz").mkdir()
    (root / "in/gz/a.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n'))
    os.utime(root / "in/gz/a.jsonl.gz", (1_700_000_000, 1_700_000_000))
    whole = gzip.compress(b"".join(b'{"id": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(20_000)))
    (root / "in/gz/b.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # truncated download
    (root / "in/junk.jsonl").write_bytes(bytes(range(256)) * 8)
    (root / "in/quote.csv").write_text('id,name,qty\n1,"Smith, John,5\n2,Doe,6\n')
    code, out = _cli(root, "sync", "hostile")
    assert code == 1, out
    assert "UnreadableFile" in out and "Traceback" not in out
    for file in ("in/gz/b.jsonl.gz", "in/junk.jsonl:1", "in/quote.csv"):
        assert file in out.replace("\n", "")
    wh = root / "wh.duckdb"
    assert [r["id"] for r in _duck(wh, "SELECT id FROM files.good ORDER BY id")] == [1, 2]
    # A failed stream rolls back to its last commit (here: nothing) and saves no state.
    with connection(root, "hostile").make_destination() as dest:
        assert set(dest.read_state("hostile")) == {"good"}
        assert {s.stream: s.status for s in dest.recent_syncs("hostile")} == {
            "good": "succeeded", "gz": "failed", "junk": "failed", "quote": "failed"}
    code, out = _cli(root, "status", "hostile")
    assert code == 0 and "good" in out, out


SANDBOX_CONN = """\
name: cust
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}
destination: {{connector: duckdb, config: {{path: "{path}"}}}}
namespace: "{namespace}"
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
"""


@pytest.mark.parametrize(("path", "namespace"), [("wh/cust0001.duckdb", "cust0001"), ("wh/main.duckdb", "main"),
                                                 ("_rooftop.duckdb", "_rooftop_data")])
def test_per_customer_duckdb_file_named_like_its_namespace(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                                           path: str, namespace: str) -> None:
    root = make_workspace(SANDBOX_CONN.format(url=sandbox.url, path=path, namespace=namespace), name="cust")
    for _ in range(2):  # a second (incremental) sync reads the state back from the same file
        code, out = _cli(root, "sync", "cust")
        assert code == 0, out
    # Readers must qualify too (DuckDB calls the catalog of main.duckdb `main_db`).
    catalog = _duck(root / path, "SELECT current_database() AS c")[0]["c"]
    leases = _duck(root / path, f'SELECT count(*) AS n, count(DISTINCT id) AS ids '
                               f'FROM "{catalog}"."{namespace}".leases')[0]
    units = _duck(root / path, f'SELECT count(*) AS n FROM "{catalog}"."{namespace}".units')[0]
    assert leases["n"] == leases["ids"] > 0 and units["n"] > 0
    with connection(root, "cust").make_destination() as dest:
        state = dest.read_state("cust")
        assert dest.table_stats(namespace, "leases") == leases["n"]
    assert state["leases"].get("cursor")  # full_refresh_overwrite keeps no state
    code, out = _cli(root, "status", "cust")
    assert code == 0 and "succeeded" in out and f"{leases['n']:,}" in out, out  # read back (rendering width varies)
