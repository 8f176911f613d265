"""Benchmark: sandbox API → DuckDB through Rooftop, beside a no-engine baseline, same machine, same run.

    .venv/bin/python bench/sandbox_to_duckdb.py [--rows 200000 2000000] [--page-size 1000 5000]
        [--repeat 3] [--mode full_refresh_overwrite] [--batch-rows 50000 ...]

One sandbox server process serves `work_orders` at each size. For each size and page size the
children run interleaved (baseline, rooftop, baseline, rooftop, …; `--repeat` rounds) and the table
shows medians, because other work on the machine makes single runs noisy. Each child is timed
around its work only (imports excluded): wall seconds and CPU seconds of the whole process (every
thread), and peak RSS (ru_maxrss from wait4):
  baseline  httpx pages → `orjson.loads` → `pyarrow.Table.from_pylist` → INSERT into DuckDB, nothing else;
  rooftop   `run_sync` of a one-stream connection (coercion to the catalog types, meta columns,
            checkpoints, `_rooftop` bookkeeping, staging + swap for full_refresh_overwrite).
`slow` is the number of pages rest_api converted on its Python path (`connectors.rest_api.page_arrow`)
instead of Arrow's JSON reader. `--batch-rows` runs rooftop once per engine batch size (the sweep
behind `pipelines.engine.batching.BATCH_ROWS`) instead of beside the baseline.
Results print as a table and are saved to bench/results/sandbox_to_duckdb.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key-000"
STREAM = "work_orders"

BASELINE = """
import sys, time, json, httpx, orjson, duckdb, pyarrow as pa
url, key, page_size, db = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = duckdb.connect(db)
start = time.perf_counter(); cpu = time.process_time(); rows = 0; cursor = None; created = False
with httpx.Client(headers={"X-API-Key": key}, timeout=60) as client:
    while True:
        params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = orjson.loads(client.get(f"{url}/v1/work_orders", params=params).content)
        page = pa.Table.from_pylist(body["data"])
        if not created:
            con.execute("CREATE TABLE work_orders AS SELECT * FROM page"); created = True
        else:
            con.execute("INSERT INTO work_orders SELECT * FROM page")
        rows += page.num_rows
        cursor = body.get("next_cursor")
        if not cursor:
            break
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}))
"""

ROOFTOP = """
import sys, time, json
from pathlib import Path
from pipelines.workspace.loading import load_workspace
from pipelines.engine.runner import run_sync
if sys.argv[2] != "-":
    import pipelines.engine.batching as batching
    batching.BATCH_ROWS = int(sys.argv[2])
conn = load_workspace(Path(sys.argv[1])).get("bench")
start = time.perf_counter(); cpu = time.process_time()
result = run_sync(conn)
out = {"rows": result.streams[0].rows_written, "seconds": time.perf_counter() - start,
       "cpu_seconds": time.process_time() - cpu}
try:
    from connectors.rest_api.page_arrow import PAGE_PATHS
    out.update(pages=PAGE_PATHS.pages, slow_pages=PAGE_PATHS.slow)
except ImportError:  # a checkout from before the Arrow page reader
    pass
print(json.dumps(out))
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
    for _ in range(600):  # wait until it answers (bounded: ~60 s on a loaded machine)
        try:
            if httpx.get(f"{url}/v1/health", headers={"X-API-Key": API_KEY}, timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox server did not start")


def run_child(code: str, *args: str) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark child failed ({status}): {code[:60]}…")
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime  # imports and start-up included
    return result


def baseline(url: str, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return run_child(BASELINE, url, API_KEY, str(page_size), str(Path(tmp) / "baseline.duckdb"))


def rooftop(url: str, page_size: int, mode: str, batch_rows: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "connections").mkdir()
        (Path(tmp) / "connections" / "bench.yaml").write_text(
            CONNECTION.format(url=url, key=API_KEY, page_size=page_size, mode=mode,
                              extra=os.environ.get("BENCH_DEST_EXTRA", "")))
        return run_child(ROOFTOP, tmp, "-" if batch_rows is None else str(batch_rows))


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure, the median over the runs (the rows and page counts are the same in every run)."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure(rows: int, page_sizes: list[int], repeat: int, mode: str,
            batch_sizes: list[int] | None) -> list[dict[str, Any]]:
    server, url = start_sandbox(rows)
    results = []
    try:
        for page_size in page_sizes:
            runs: dict[str, list[dict[str, Any]]] = {}
            names = ["baseline", "rooftop"] if batch_sizes is None else [f"N={n}" for n in batch_sizes]
            for _ in range(repeat):  # interleaved, so a burst of load elsewhere hits every variant alike
                for name in names:
                    r = (baseline(url, page_size) if name == "baseline" else
                         rooftop(url, page_size, mode, None if name == "rooftop" else int(name[2:])))
                    assert r["rows"] == rows, f"{name} moved {r['rows']} rows, expected {rows}"
                    runs.setdefault(name, []).append(r)
            results.append({"rows": rows, "page_size": page_size, **{n: median(rs) for n, rs in runs.items()}})
    finally:
        server.terminate()
        server.wait()
    return results


def report(results: list[dict[str, Any]], mode: str, repeat: int) -> None:
    print(f"\nsandbox → DuckDB, stream {STREAM}, mode {mode}, {os.cpu_count()} cores, medians of {repeat}")
    print(f"{'rows':>10} {'page':>5} {'run':>9} {'seconds':>8} {'CPU s':>7} {'rows/s':>10} {'rows/CPU s':>11} "
          f"{'peak MB':>8} {'slow':>5} {'x wall':>7} {'x CPU':>6}")
    for r in results:
        base = r.get("baseline")
        for name, m in r.items():
            if not isinstance(m, dict):
                continue
            wall = f"{base['seconds'] / m['seconds']:.2f}" if base and name != "baseline" else ""
            cpu = f"{base['cpu_seconds'] / m['cpu_seconds']:.2f}" if base and name != "baseline" else ""
            slow = f"{m['slow_pages']:.0f}" if "slow_pages" in m else ""
            print(f"{r['rows']:>10,} {r['page_size']:>5} {name:>9} {m['seconds']:>8.2f} {m['cpu_seconds']:>7.2f} "
                  f"{r['rows'] / m['seconds']:>10,.0f} {r['rows'] / m['cpu_seconds']:>11,.0f} "
                  f"{m['peak_rss_mb']:>8.0f} {slow:>5} {wall:>7} {cpu:>6}")
    sizes = sorted({r["rows"] for r in results})
    if len(sizes) >= 2 and all("rooftop" in r for r in results):
        for page in sorted({r["page_size"] for r in results}):
            peak = {r["rows"]: r["rooftop"]["peak_rss_mb"] for r in results if r["page_size"] == page}
            print(f"rooftop peak RSS, page {page}: {sizes[-1]:,} rows / {sizes[0]:,} rows = "
                  f"{peak[sizes[-1]] / peak[sizes[0]]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--page-size", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", default="full_refresh_overwrite")
    parser.add_argument("--batch-rows", type=int, nargs="+", default=None,
                        help="sweep the engine's batch size instead of comparing with the baseline")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sandbox_to_duckdb.json")
    args = parser.parse_args()
    results = [r for rows in args.rows
               for r in measure(rows, args.page_size, args.repeat, args.mode, args.batch_rows)]
    report(results, args.mode, args.repeat)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
