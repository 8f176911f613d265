"""The three measurements of bench/run_all.py (issue 15 item 3), each interleaved with medians.

  http         the work_orders sandbox stream at each size and page size: the baseline (httpx +
               orjson + from_pylist + DuckDB insert), Rooftop's full_refresh_overwrite, dlt's
               fastest path (Arrow tables per page, parquet loader files) and the floor (floor.py:
               what the libraries alone cost, no features) against the same server;
  incremental  at one size: a full_refresh_overwrite beside an incremental_deduped first load of the
               same rows; then 1 % of the rows are updated on the server (POST /v1/_admin/mutate) and
               the whole `rooftop sync` process of that connection is timed;
  postgres     the `leases` table (bench/postgres_to_duckdb.py) into DuckDB: its COPY baseline,
               Rooftop's `sql` source and dlt's `sql_table(backend="pyarrow")`.
Every run is a child process measured by `measure.run_measured`; each returns its median figures.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt_env
import duckdb
import httpx
import postgres_to_duckdb as pg_bench
import replay
from floor import FLOOR
from measure import ChildFailed, expect_rows, interleaved, run_measured
from sandbox_to_duckdb import API_KEY, BASELINE, CONNECTION, ROOFTOP, start_sandbox

PYTHON = sys.executable
ROOFTOP_CLI = Path(sys.executable).parent / "rooftop"
DEFAULT_BATCH = "-"
"""The Rooftop child's second argument: keep the engine's own batch size (sandbox_to_duckdb's ROOFTOP)."""


@contextlib.contextmanager
def sandbox(rows: int) -> Iterator[str]:
    """The URL of a sandbox API serving `rows` work orders, stopped afterwards."""
    server, url = start_sandbox(rows)
    try:
        yield url
    finally:
        server.terminate()
        server.wait()


def _workspace(root: Path, url: str, page_size: int, mode: str) -> Path:
    (root / "connections").mkdir(exist_ok=True)
    (root / "connections" / "bench.yaml").write_text(
        CONNECTION.format(url=url, key=API_KEY, page_size=page_size, mode=mode, extra=""))
    return root


def rooftop_run(url: str, page_size: int, mode: str, root: Path) -> dict[str, Any]:
    """Rooftop's run_sync of the one-stream connection in a child (imports excluded from `seconds`)."""
    return run_measured([PYTHON, "-c", ROOFTOP, _workspace(root, url, page_size, mode), DEFAULT_BATCH])


@contextlib.contextmanager
def _pages_server(live_url: str, page_size: int, live: bool) -> Iterator[str]:
    """The live sandbox, or a replay of its pages at `page_size` (see replay.py for why)."""
    if live:
        yield live_url
        return
    pages, _rows = replay.record(live_url, page_size)
    with replay.serve(pages, page_size) as url:
        yield url


def _http_variants(url: str, page: int, rows: int, dlt_python: Path | None) -> dict[str, Callable[[], Any]]:
    """The runs of one (server, page size): each reads every row into a fresh DuckDB file."""
    def baseline() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            return expect_rows("baseline", run_measured(
                [PYTHON, "-c", BASELINE, url, API_KEY, str(page), Path(tmp) / "b.duckdb"]), rows)

    def rooftop() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            return expect_rows("rooftop", rooftop_run(url, page, "full_refresh_overwrite", Path(tmp)), rows)

    def floor() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            return expect_rows("floor", run_measured(
                [PYTHON, "-c", FLOOR, url, API_KEY, str(page), Path(tmp) / "f.duckdb"]), rows)

    def dlt() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            return expect_rows("dlt", run_measured([dlt_python or "", "-c", dlt_env.REST, url, API_KEY, str(page), tmp],
                                                   env=dlt_env.DLT_ENV), rows)

    return {"baseline": baseline, "rooftop": rooftop, "floor": floor,
            **({"dlt": dlt} if dlt_python is not None else {})}


def http_suite(rows: int, page_sizes: list[int], repeat: int, dlt_python: Path | None,
               live: bool = False) -> list[dict[str, Any]]:
    """Baseline, Rooftop and dlt per page size, on one sandbox of `rows` work orders (or its replay)."""
    results = []
    with sandbox(rows) as live_url:
        for page in page_sizes:
            with _pages_server(live_url, page, live) as url:
                variants = _http_variants(url, page, rows, dlt_python)
                print(f"  http: {rows:,} rows, page {page}, {' / '.join(variants)} × {repeat}"
                      f"{' (live sandbox)' if live else ' (replay)'}", file=sys.stderr)
                results.append({"rows": rows, "page_size": page, **interleaved(repeat, variants)})
    return results


def _table_check(db: Path, rows: int, changed: int) -> None:
    """The warehouse holds every row once, and the `changed` rows with the mutation's updated_at."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute("SELECT table_schema FROM information_schema.tables "
                            "WHERE table_name = 'work_orders'").fetchall()
        if len(names) != 1:
            raise ChildFailed(f"expected one work_orders table in {db}, found {names}")
        table = f'"{names[0][0]}".work_orders'
        found = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()
        newest = con.execute(f"SELECT count(*) FROM {table} WHERE updated_at = "
                             f"(SELECT max(updated_at) FROM {table})").fetchone()
    if found != (rows, rows) or newest is None or newest[0] != changed:
        raise ChildFailed(f"after the 1 % sync {db} holds (rows, ids) {found} and {newest} rows at the newest "
                          f"updated_at; expected ({rows}, {rows}) and {changed}")


def incremental_suite(rows: int, page_size: int, repeat: int) -> dict[str, Any]:
    """Overwrite vs incremental_deduped first load, then the `rooftop sync` after 1 % changed."""
    with sandbox(rows) as url, tempfile.TemporaryDirectory() as tmp:
        round_no = 0

        def overwrite() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as ws:
                return expect_rows("overwrite", rooftop_run(url, page_size, "full_refresh_overwrite", Path(ws)), rows)

        def first_load() -> dict[str, Any]:
            nonlocal round_no
            round_no += 1
            root = Path(tmp) / f"incremental-{round_no}"
            root.mkdir()
            return expect_rows("incremental first load",
                               rooftop_run(url, page_size, "incremental_deduped", root), rows)

        def after_one_percent() -> dict[str, Any]:
            # The server's listing puts changed rows last (newest updated_at): the sync reads ~1 % of them.
            response = httpx.post(f"{url}/v1/_admin/mutate", headers={"X-API-Key": API_KEY}, timeout=60,
                                  json={"stream": "work_orders", "update": 0.01, "insert": 0, "delete": 0,
                                        "seed": round_no})
            response.raise_for_status()
            changed = len(response.json()["updated"])
            root = Path(tmp) / f"incremental-{round_no}"
            result = run_measured([ROOFTOP_CLI, "-w", root, "sync", "bench"], json_result=False,
                                  env={"NO_COLOR": "1", "COLUMNS": "160"})
            _table_check(root / "bench.duckdb", rows, changed)
            return result | {"rows": rows, "changed": changed}

        print(f"  incremental: {rows:,} rows, page {page_size}, overwrite / first load / 1 % sync × {repeat}",
              file=sys.stderr)
        medians = interleaved(repeat, {"overwrite": overwrite, "incremental_first_load": first_load,
                                       "incremental_after_1pct": after_one_percent})
    return {"rows": rows, "page_size": page_size, **medians}


def postgres_suite(rows: int, repeat: int, dlt_python: Path | None) -> dict[str, Any]:
    """The leases table: COPY baseline, Rooftop's sql source, dlt's sql_table with the pyarrow backend."""
    with pg_bench.postgres() as (url, dsn):
        pg_bench.fill(dsn, rows)

        def baseline() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as tmp:
                return expect_rows("baseline", run_measured(
                    [PYTHON, "-c", pg_bench.BASELINE, dsn, Path(tmp) / "b.duckdb"]), rows)

        def rooftop() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as tmp:
                ws = pg_bench.write_workspace(Path(tmp), url)
                return expect_rows("rooftop", run_measured([PYTHON, "-c", ROOFTOP, ws, DEFAULT_BATCH]), rows)

        def dlt() -> dict[str, Any]:
            assert dlt_python is not None
            sqlalchemy_url = url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
            with tempfile.TemporaryDirectory() as tmp:
                return expect_rows("dlt", run_measured([dlt_python, "-c", dlt_env.SQL, sqlalchemy_url, tmp],
                                                       env=dlt_env.DLT_ENV), rows)

        variants: dict[str, Callable[[], dict[str, Any]]] = {"baseline": baseline, "rooftop": rooftop}
        if dlt_python is not None:
            variants["dlt"] = dlt
        print(f"  postgres: {rows:,} rows, {' / '.join(variants)} × {repeat}", file=sys.stderr)
        return {"rows": rows, **interleaved(repeat, variants)}
