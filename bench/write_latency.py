"""Write-back latency: from `PUT /v1/residents/{id}` to the new value in the warehouse, on the sandbox.

    .venv/bin/python bench/write_latency.py [--writes 20]

Starts the sandbox (full variant) on 127.0.0.1, a workspace with one sandbox connection into a DuckDB
file, syncs it once, starts `rooftop api` as its own process, then for each write: PUT a new phone
number, poll `GET /v1/writes/{id}` until `succeeded`, and read the row from the warehouse. Prints the
median and worst of: request → 202 answer, request → `succeeded` (sent and re-read), request → the
row visible to a fresh read-only DuckDB connection. Measures, never asserts (issue 13's closing note).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.sandbox.dataset import SandboxDataset  # noqa: E402
from connectors.sandbox.server import SandboxServer  # noqa: E402

API_KEY = "bench-sandbox-key"
CONNECTION = """\
name: acme
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "{key}", variant: full}}
destination: {{connector: duckdb, config: {{path: acme.duckdb}}}}
streams:
  - {{name: residents, sync_mode: incremental_deduped}}
"""
DEADLINE_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rooftop(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--workspace", str(root), *args],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(http: httpx.Client, api: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise SystemExit(f"rooftop api exited: {api.stderr.read().decode() if api.stderr else ''}")
        try:
            http.get("/openapi.json")
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("rooftop api did not start")


def _phone(warehouse: Path, resident: int) -> str | None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute("SELECT phone FROM sandbox.residents WHERE id = ?", [resident]).fetchone()
    return None if row is None else str(row[0])


def measure(writes: int) -> dict[str, list[float]]:
    token = secrets.token_hex(16)
    timings: dict[str, list[float]] = {"accepted": [], "succeeded": [], "visible": []}
    with SandboxServer(SandboxDataset(seed=7, scale=1), api_key=API_KEY) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "connections").mkdir()
        (root / "connections" / "acme.yaml").write_text(CONNECTION.format(url=sandbox.url, key=API_KEY))
        (root / ".env").write_text(f"ROOFTOP_API_TOKENS=write={token}\n")
        if _rooftop(root, "sync", "acme").wait() != 0:
            raise SystemExit("the first sync failed")
        port = _free_port()
        api = _rooftop(root, "api", "--port", str(port))
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                _wait_ready(http, api)
                for n in range(writes):
                    resident, phone = 1 + n % 20, f"555-{n:04d}"
                    started = time.perf_counter()
                    answer = http.put(f"/v1/residents/{resident}", params={"connection": "acme"},
                                      json={"phone": phone})
                    answer.raise_for_status()
                    timings["accepted"].append(time.perf_counter() - started)
                    write_id = answer.json()["write_id"]
                    while http.get(f"/v1/writes/{write_id}").json()["status"] != "succeeded":
                        if time.perf_counter() - started > DEADLINE_SECONDS:
                            raise SystemExit(f"write {write_id} did not succeed")
                        time.sleep(0.005)
                    timings["succeeded"].append(time.perf_counter() - started)
                    while _phone(root / "acme.duckdb", resident) != phone:
                        time.sleep(0.005)
                    timings["visible"].append(time.perf_counter() - started)
        finally:
            api.terminate()
            api.wait(30)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20)
    args = parser.parse_args()
    timings = measure(args.writes)
    print(f"write-back latency on the sandbox, {args.writes} writes, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    for label, values in timings.items():
        print(f"  request → {label:<9}  median {statistics.median(values) * 1000:7.1f} ms   "
              f"worst {max(values) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
