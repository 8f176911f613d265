"""Benchmark: PostgreSQL → DuckDB through Rooftop's `sql` source, beside a baseline, same run.

    .venv/bin/python bench/postgres_to_duckdb.py [--rows 200000 1000000] [--url postgresql://…]

Without `--url` a throwaway PostgreSQL server is started from the system binaries (as the tests
do). A table `leases` of N rows (bigint key, int, text, numeric(12,2), date, timestamptz, text) is
created; then two child processes run one after the other, each timed around its work only and
measured for peak RSS (ru_maxrss from wait4):
  baseline  a plain psycopg `COPY (SELECT …) TO STDOUT (FORMAT csv)` parsed by pyarrow's streaming
            CSV reader, each batch inserted into DuckDB. (DuckDB's own `postgres` extension would be
            the other natural baseline, but it is downloaded at first use and this machine has no
            network beyond package registries.)
  rooftop   `run_sync` of a one-stream connection sql → duckdb, full_refresh_overwrite (the COPY
            fast path, coercion to catalog types, meta columns, staging + swap, `_rooftop` state).
Results print as a table and are saved to bench/results/postgres_to_duckdb.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from sandbox_to_duckdb import ROOFTOP, run_child  # noqa: E402 - same child runner and Rooftop child

BASELINE = """
import io, sys, time, json, psycopg, duckdb, pyarrow as pa, pyarrow.csv as pacsv
dsn, db = sys.argv[1], sys.argv[2]
class Stream(io.RawIOBase):
    def __init__(self, chunks): self.chunks, self.buf = chunks, bytearray()
    def readable(self): return True
    def readinto(self, b):
        while len(self.buf) < len(b):
            chunk = next(self.chunks, None)
            if chunk is None: break
            self.buf += chunk
        n = min(len(b), len(self.buf)); b[:n] = self.buf[:n]; del self.buf[:n]; return n
types = {"id": pa.int64(), "unit_id": pa.int32(), "status": pa.string(), "rent": pa.decimal128(12, 2),
         "start_date": pa.date32(), "updated_at": pa.timestamp("us", tz="UTC"), "note": pa.string()}
con = duckdb.connect(db)
start = time.perf_counter(); cpu = time.process_time(); rows = 0; created = False
with psycopg.connect(dsn) as pg, pg.cursor() as cur:
    cur.execute("SET TimeZone TO 'UTC'")
    query = "COPY (SELECT id, unit_id, status, rent, start_date, updated_at, note FROM leases) TO STDOUT (FORMAT csv)"
    with cur.copy(query) as copy:
        reader = pacsv.open_csv(io.BufferedReader(Stream(iter(copy)), 1 << 20),
            read_options=pacsv.ReadOptions(column_names=list(types), block_size=8 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False))
        for batch in reader:
            if not created:
                con.execute("CREATE TABLE leases AS SELECT * FROM batch"); created = True
            else:
                con.execute("INSERT INTO leases SELECT * FROM batch")
            rows += batch.num_rows
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}))
"""

CONNECTION = """\
name: bench
source: {{connector: sql, config: {{url: "{url}"}}}}
destination: {{connector: duckdb, config: {{path: bench.duckdb}}}}
streams:
  - {{name: leases, sync_mode: full_refresh_overwrite}}
"""

FILL = """
DROP TABLE IF EXISTS leases;
CREATE TABLE leases (id bigint PRIMARY KEY, unit_id integer, status text, rent numeric(12,2),
                     start_date date, updated_at timestamptz, note text);
INSERT INTO leases
SELECT g, g % 5000, (ARRAY['Current','Notice','Past','Future'])[1 + g % 4], (500 + g % 3000) + 0.25,
       DATE '2020-01-01' + (g % 1500), TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 second',
       'lease note number ' || g
FROM generate_series(1, %s) AS g;
"""


@contextlib.contextmanager
def postgres(url: str | None = None) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, libpq DSN) of `url`, or of a fresh database on a throwaway server stopped after."""
    if url:
        yield url, url.replace("postgresql+psycopg://", "postgresql://")
        return
    from tests.postgres_server import _start_server
    server, tmp_server = _start_server()
    try:
        url = server.url(server.create_database())
        yield url, url.replace("postgresql+psycopg://", "postgresql://")
    finally:
        try:
            server.stop()
        finally:
            tmp_server.cleanup()


def fill(dsn: str, rows: int) -> None:
    """(Re)create the `leases` table with `rows` generated rows, analysed."""
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute(FILL.replace("%s", str(int(rows))))
        pg.execute("VACUUM ANALYZE leases")


def baseline(dsn: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return run_child(BASELINE, dsn, str(Path(tmp) / "baseline.duckdb"))


def write_workspace(root: Path, url: str) -> Path:
    """A workspace at `root` whose connection `bench` reads `leases` into root/bench.duckdb."""
    (root / "connections").mkdir()
    (root / "connections" / "bench.yaml").write_text(CONNECTION.format(url=url))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--url", help="postgresql://user@host:port/db of a server to use (default: a throwaway one)")
    args = parser.parse_args()
    results = []
    with postgres(args.url) as (url, dsn):
        for rows in args.rows:
            fill(dsn, rows)
            base = baseline(dsn)
            with tempfile.TemporaryDirectory() as tmp:
                # "-": the engine's default batch size (the child's second argument, see sandbox_to_duckdb)
                ours = run_child(ROOFTOP, str(write_workspace(Path(tmp), url)), "-")
            for name, r in (("baseline", base), ("rooftop", ours)):
                assert r["rows"] == rows, f"{name} moved {r['rows']} rows, expected {rows}"
            results.append({"rows": rows, "baseline": base, "rooftop": ours,
                            "throughput_ratio": base["seconds"] / ours["seconds"]})
    report("PostgreSQL → DuckDB, table leases (7 columns), full_refresh_overwrite; baseline: psycopg COPY csv "
           "→ pyarrow → DuckDB", results, "postgres_to_duckdb.json")


def report(title: str, results: list[dict[str, object]], filename: str) -> None:
    print(f"\n{title}, {os.cpu_count()} cores")
    print(f"{'rows':>10} {'run':>9} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'ratio':>6}")
    for r in results:
        for name in ("baseline", "rooftop"):
            m = r[name]
            assert isinstance(m, dict)
            ratio = f"{r['throughput_ratio']:.2f}" if name == "rooftop" else ""
            print(f"{r['rows']:>10,} {name:>9} {m['seconds']:>8.2f} {r['rows'] / m['seconds']:>10,.0f} "  # type: ignore[operator]
                  f"{m['peak_rss_mb']:>12.0f} {ratio:>6}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = large["rooftop"]["peak_rss_mb"] / small["rooftop"]["peak_rss_mb"]  # type: ignore[index]
        print(f"rooftop peak RSS at {large['rows']:,} rows / at {small['rows']:,} rows: {growth:.2f}x")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / filename).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
