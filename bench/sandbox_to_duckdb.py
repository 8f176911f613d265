"""Benchmark: sandbox API → DuckDB through Rooftop, beside a no-engine baseline, same machine, same run.

    .venv/bin/python bench/sandbox_to_duckdb.py [--rows 200000 2000000] [--page-size 5000] [--mode ...]

One sandbox server process serves `work_orders` at each size. For each size two child processes run
one after the other, each timed around its work only (imports excluded) and measured for peak RSS
(ru_maxrss from wait4):
  baseline  httpx pages → `pyarrow.Table.from_pylist` → INSERT into DuckDB, nothing else;
  rooftop   `run_sync` of a one-stream connection (coercion to the catalog types, meta columns,
            checkpoints, `_rooftop` bookkeeping, staging + swap for full_refresh_overwrite).
Results print as a table and are saved to bench/results/sandbox_to_duckdb.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key-000"
STREAM = "work_orders"

BASELINE = """
import sys, time, json, httpx, orjson, duckdb, pyarrow as pa
url, key, page_size, db = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = duckdb.connect(db)
start = time.perf_counter(); rows = 0; cursor = None; created = False
with httpx.Client(headers={"X-API-Key": key}, timeout=60) as client:
    while True:
        params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{url}/v1/work_orders", params=params).json()
        page = pa.Table.from_pylist(body["data"])
        if not created:
            con.execute("CREATE TABLE work_orders AS SELECT * FROM page"); created = True
        else:
            con.execute("INSERT INTO work_orders SELECT * FROM page")
        rows += page.num_rows
        cursor = body.get("next_cursor")
        if not cursor:
            break
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
"""

ROOFTOP = """
import sys, time, json
from pathlib import Path
from pipelines.workspace.loading import load_workspace
from pipelines.engine.runner import run_sync
conn = load_workspace(Path(sys.argv[1])).get("bench")
start = time.perf_counter()
result = run_sync(conn)
print(json.dumps({"rows": result.streams[0].rows_written, "seconds": time.perf_counter() - start}))
"""

CONNECTION = """\
name: bench
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "{key}", page_size: {page_size}}}
destination: {{connector: duckdb, config: {{path: bench.duckdb{extra}}}}}
streams:
  - {{name: work_orders, sync_mode: {mode}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(rows: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sandbox", "--port", str(port),
                             "--scale", "10", "--count", f"{STREAM}={rows}", "--api-key", API_KEY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):  # wait until it answers (bounded: ~20 s)
        try:
            if httpx.get(f"{url}/v1/health", headers={"X-API-Key": API_KEY}, timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox server did not start")


def run_child(code: str, *args: str) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark child failed ({status}): {code[:60]}…")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--mode", default="full_refresh_overwrite")
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        server, url = start_sandbox(rows)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                base = run_child(BASELINE, url, API_KEY, str(args.page_size), str(Path(tmp) / "baseline.duckdb"))
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "connections").mkdir()
                (Path(tmp) / "connections" / "bench.yaml").write_text(
                    CONNECTION.format(url=url, key=API_KEY, page_size=args.page_size, mode=args.mode,
                                      extra=os.environ.get("BENCH_DEST_EXTRA", "")))
                ours = run_child(ROOFTOP, tmp)
        finally:
            server.terminate()
            server.wait()
        for name, r in (("baseline", base), ("rooftop", ours)):
            assert r["rows"] == rows, f"{name} moved {r['rows']} rows, expected {rows}"
        results.append({"rows": rows, "baseline": base, "rooftop": ours,
                        "throughput_ratio": (rows / ours["seconds"]) / (rows / base["seconds"])})
    print(textwrap.dedent(f"""
        sandbox → DuckDB, stream {STREAM}, page size {args.page_size}, mode {args.mode}, {os.cpu_count()} cores"""))
    print(f"{'rows':>10} {'run':>9} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'ratio':>6}")
    for r in results:
        for name in ("baseline", "rooftop"):
            m = r[name]
            ratio = f"{r['throughput_ratio']:.2f}" if name == "rooftop" else ""
            print(f"{r['rows']:>10,} {name:>9} {m['seconds']:>8.2f} {r['rows'] / m['seconds']:>10,.0f} "
                  f"{m['peak_rss_mb']:>12.0f} {ratio:>6}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = large["rooftop"]["peak_rss_mb"] / small["rooftop"]["peak_rss_mb"]
        print(f"rooftop peak RSS at {large['rows']:,} rows / at {small['rows']:,} rows: {growth:.2f}x")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "sandbox_to_duckdb.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
