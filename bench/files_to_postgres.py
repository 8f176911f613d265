"""Benchmark: Parquet files → PostgreSQL through Rooftop's `files` source and `postgres` destination,
beside a baseline, same run.

    .venv/bin/python bench/files_to_postgres.py [--rows 200000 1000000] [--files 10] [--url postgresql://…]

DuckDB writes N rows of a 7-column leases table as `--files` Parquet files. Without `--url` a
throwaway PostgreSQL server is started from the system binaries (as the tests do). Then two child
processes run one after the other, each timed around its work only and measured for peak RSS
(ru_maxrss from wait4):
  baseline  pyarrow reads each file batch by batch, Arrow's CSV writer encodes it and a plain
            psycopg `COPY leases FROM STDIN (FORMAT csv)` loads it, one transaction.
  rooftop   `run_sync` of a one-stream connection files → postgres, incremental_append (file
            state, coercion to catalog types, meta columns, commits of rows + state every 100k).
Results print as a table and are saved to bench/results/files_to_postgres.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import psycopg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from postgres_to_duckdb import report  # noqa: E402 - same report table
from sandbox_to_duckdb import ROOFTOP, run_child  # noqa: E402 - same child runner and Rooftop child

BASELINE = """
import io, sys, glob, time, json, psycopg, pyarrow.parquet as pq, pyarrow.csv as pacsv
dsn, folder = sys.argv[1], sys.argv[2]
start = time.perf_counter(); rows = 0
with psycopg.connect(dsn) as pg, pg.cursor() as cur:
    cur.execute("CREATE TABLE baseline_leases (id bigint, unit_id integer, status text, rent numeric(12,2), "
                "start_date date, updated_at timestamptz, note text)")
    with cur.copy("COPY baseline_leases FROM STDIN (FORMAT csv)") as copy:
        for path in sorted(glob.glob(folder + "/*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
                out = io.BytesIO()
                pacsv.write_csv(batch, out, pacsv.WriteOptions(include_header=False))
                copy.write(out.getvalue())
                rows += batch.num_rows
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
"""

CONNECTION = """\
name: bench
source: {{connector: files, config: {{streams: [{{name: leases, path: "{folder}/*.parquet"}}]}}}}
destination: {{connector: postgres, config: {{url: "{url}"}}}}
namespace: destination
streams:
  - {{name: leases, sync_mode: incremental_append}}
"""


def write_files(folder: Path, rows: int, files: int) -> None:
    folder.mkdir(parents=True)
    per = -(-rows // files)
    with duckdb.connect() as con:
        for i in range(files):
            low, high = i * per, min(rows, (i + 1) * per)
            con.execute(f"""COPY (
                SELECT g::BIGINT AS id, (g % 5000)::INTEGER AS unit_id,
                       ['Current', 'Notice', 'Past', 'Future'][1 + g % 4] AS status,
                       ((500 + g % 3000) + 0.25)::DECIMAL(12, 2) AS rent,
                       DATE '2020-01-01' + (g % 1500)::INTEGER AS start_date,
                       TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(g) AS updated_at,
                       'lease note number ' || g AS note
                FROM range({low}, {high}) AS t(g)) TO '{folder / f"part-{i:03d}.parquet"}' (FORMAT parquet)""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--url", help="postgresql://user@host:port/db of a server to use (default: a throwaway one)")
    args = parser.parse_args()
    server = tmp_server = None
    if not args.url:
        from tests.postgres_server import _start_server
        server, tmp_server = _start_server()
    results = []
    try:
        for rows in args.rows:
            url = args.url or server.url(server.create_database())  # type: ignore[union-attr]
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "data"
                write_files(folder, rows, args.files)
                base = run_child(BASELINE, dsn, str(folder))
                (Path(tmp) / "connections").mkdir()
                (Path(tmp) / "connections" / "bench.yaml").write_text(CONNECTION.format(folder=folder, url=url))
                ours = run_child(ROOFTOP, tmp)
                shutil.rmtree(folder)
            with psycopg.connect(dsn, autocommit=True) as pg:
                for table in ("baseline_leases", "leases"):
                    pg.execute(f"DROP TABLE IF EXISTS public.{table}")
            for name, r in (("baseline", base), ("rooftop", ours)):
                assert r["rows"] == rows, f"{name} moved {r['rows']} rows, expected {rows}"
            results.append({"rows": rows, "baseline": base, "rooftop": ours,
                            "throughput_ratio": base["seconds"] / ours["seconds"]})
    finally:
        if server is not None and tmp_server is not None:
            server.stop()
            tmp_server.cleanup()
    report(f"DuckDB-written Parquet ({args.files} files) → PostgreSQL, incremental_append; baseline: pyarrow → "
           "CSV → psycopg COPY", results, "files_to_postgres.json")


if __name__ == "__main__":
    main()
