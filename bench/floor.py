"""The *floor*: the least CPU any loader of the work_orders pages into DuckDB can spend on this stack.

Issue 15 asks Rooftop for 1.5× the baseline's throughput and 2× dlt's. Whether those ratios are
reachable at all depends on what the libraries themselves cost, so the http section also runs
this child: a loader stripped of everything but the unavoidable work, against the same server.

What it keeps (what any loader must do):
  the interpreter and the imports every loader on this stack pays (httpx, orjson, duckdb, pyarrow,
  as the baseline imports them); one HTTP/1.1 keep-alive connection (the standard library's
  http.client: cheaper per request than httpx); each page's bytes through Arrow's C++ JSON reader
  with the schema declared (the cheapest reader measured: DuckDB's read_json of the same pages cost
  more); timestamps cast in Arrow; one DuckDB INSERT per ~20,000 rows, in one transaction, with one
  DuckDB thread (as Rooftop's default), then a checkpoint.

What it leaves out (what Rooftop does and a user relies on): configuration and validation,
retries, throttling, the total request deadline, redirects and cookies, auth, error-body checks,
per-value checks with null + `_rooftop_meta` for values that do not fit, schema inference and
widening, cursor tracking and state checkpoints, commits every N rows (a crash loses everything
here), the `_rooftop` bookkeeping columns and tables, sync logs, the read-ahead thread. Its
pagination finds `next_cursor` by reading the page, which only this API's shape allows.

So a ratio that the floor itself misses is out of reach for any loader on this stack, and the gap
between the floor and Rooftop is what Rooftop's features cost.
"""

from __future__ import annotations

FLOOR = """
import sys, time, json, http.client
import httpx, orjson, duckdb, pyarrow as pa, pyarrow.json as pajson  # what every loader here imports
from urllib.parse import quote, urlsplit
url, key, page_size, db = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = duckdb.connect(db)
con.execute("SET threads = 1")
start = time.perf_counter(); cpu = time.process_time()
TEXT, NUM, INT = pa.string(), pa.float64(), pa.int64()
record = pa.struct([("id", INT), ("property_id", INT), ("unit_id", INT), ("category", TEXT), ("priority", TEXT),
                    ("status", TEXT), ("description", TEXT), ("cost", NUM), ("created_at", TEXT),
                    ("completed_at", TEXT), ("updated_at", TEXT), ("deleted_at", TEXT)])
TIMES = ("created_at", "completed_at", "updated_at", "deleted_at")
options = pajson.ParseOptions(explicit_schema=pa.schema([("data", pa.list_(record)), ("next_cursor", TEXT)]),
                              unexpected_field_behavior="ignore")
con.execute("CREATE TABLE work_orders (id BIGINT, property_id BIGINT, unit_id BIGINT, category VARCHAR, "
            "priority VARCHAR, status VARCHAR, description VARCHAR, cost DOUBLE, created_at TIMESTAMPTZ, "
            "completed_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ)")
con.execute("BEGIN")
host = urlsplit(url)
conn = http.client.HTTPConnection(host.hostname, host.port)
pending, pending_rows, rows, cursor = [], 0, 0, None


def flush():
    global pending, pending_rows
    if pending:
        staged = pa.Table.from_batches(pending)
        for name in TIMES:
            staged = staged.set_column(staged.schema.get_field_index(name), name,
                                      staged.column(name).cast(pa.timestamp("us", tz="UTC")))
        con.execute("INSERT INTO work_orders SELECT * FROM staged")
    pending, pending_rows = [], 0


def fetch(path):
    global conn
    for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
        try:
            conn.request("GET", path, headers={"X-API-Key": key})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status} on {path}")
            return body
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            conn = http.client.HTTPConnection(host.hostname, host.port)
            if attempt == 2:
                raise


while True:
    body = fetch(f"/v1/work_orders?limit={page_size}" + (f"&cursor={quote(cursor)}" if cursor else ""))
    page = pajson.read_json(pa.py_buffer(body), parse_options=options,
                            read_options=pajson.ReadOptions(use_threads=False, block_size=len(body) + 1))
    records = page.column("data").chunk(0).values
    pending.append(pa.RecordBatch.from_struct_array(records))
    pending_rows += len(records)
    rows += len(records)
    if pending_rows >= 20_000:
        flush()
    cursor = page.column("next_cursor")[0].as_py()
    if not cursor:
        break
flush()
con.execute("COMMIT")
con.execute("CHECKPOINT")
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}))
"""
