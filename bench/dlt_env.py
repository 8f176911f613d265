"""dlt for the benchmarks, in its own venv (bench/.venv-dlt, gitignored), never a Rooftop dependency.

dlt pins its own duckdb, pyarrow and SQLAlchemy ranges; installing it beside Rooftop would let a
benchmark change what the product runs on. `ensure_dlt_python()` creates the venv once with the
pinned versions below (PyPI through pip, the ordinary client) and returns its interpreter; later runs
reuse it as long as the stamp file names the same requirements. The child programs are run by that
interpreter and print one JSON line like every other benchmark child (`measure.run_measured`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-dlt"
REQUIREMENTS = ["dlt[duckdb,parquet,sql_database]==1.31.0", "httpx", "orjson", "psycopg2-binary"]
"""dlt pinned so figures stay comparable between runs; psycopg2 is SQLAlchemy's default Postgres driver."""


def ensure_dlt_python() -> Path:
    """The venv's python, creating the venv and installing dlt first if it is missing or stale."""
    python, stamp = VENV / "bin" / "python", VENV / ".installed"
    wanted = "\n".join(REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing {REQUIREMENTS[0]} into {VENV} (once)…", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


DLT_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}
"""No telemetry calls out of a benchmark (the machine may have no route to them: timeouts would count)."""

REST = """
import sys, time, json, httpx, orjson, dlt, pyarrow as pa
url, key, page_size, workdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

@dlt.resource(name="work_orders", write_disposition="replace")
def work_orders():
    # dlt's fastest documented path for a JSON API: Arrow tables, no per-row Python in dlt itself.
    with httpx.Client(headers={"X-API-Key": key}, timeout=60) as client:
        cursor = None
        while True:
            params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
            body = orjson.loads(client.get(f"{url}/v1/work_orders", params=params).content)
            yield pa.Table.from_pylist(body["data"])
            cursor = body.get("next_cursor")
            if not cursor:
                break

pipeline = dlt.pipeline(pipeline_name="bench_rest", pipelines_dir=f"{workdir}/pipelines", dataset_name="bench",
                        destination=dlt.destinations.duckdb(f"{workdir}/dlt.duckdb"))
start = time.perf_counter(); cpu = time.process_time()
pipeline.run(work_orders(), loader_file_format="parquet")
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
rows = pipeline.last_trace.last_normalize_info.row_counts["work_orders"]
print(json.dumps({"rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds}))
"""

SQL = """
import sys, time, json, dlt
from dlt.sources.sql_database import sql_table
dsn, workdir = sys.argv[1], sys.argv[2]
pipeline = dlt.pipeline(pipeline_name="bench_sql", pipelines_dir=f"{workdir}/pipelines", dataset_name="bench",
                        destination=dlt.destinations.duckdb(f"{workdir}/dlt.duckdb"))
start = time.perf_counter(); cpu = time.process_time()
source = sql_table(credentials=dsn, table="leases", backend="pyarrow")
pipeline.run(source, write_disposition="replace", loader_file_format="parquet")
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
rows = pipeline.last_trace.last_normalize_info.row_counts["leases"]
print(json.dumps({"rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds}))
"""
