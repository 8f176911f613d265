"""Benchmark: what loading a fleet's workspace costs, in CPU seconds (issue 14 item 1).

    .venv/bin/python bench/load_cost.py [--sizes 10 100 500] [--only validate load dagster]

For each size it writes a workspace to a temp dir: that many connection files, each with 5 streams
and a cron schedule, half `rest_api` (declared schemas, an https:// base URL that is never called)
and half `sandbox` (pointing at a sandbox API by `base_url`, as a fleet would), all into one DuckDB
file. Then it runs, each in a child process, and reports the children's CPU (user+sys, from
resource.getrusage(RUSAGE_CHILDREN) deltas: interpreter start and imports included, as a user
pays them):
  validate  `rooftop validate --offline`
  load      `python -c "import pipelines.definitions"`: building the Definitions, which is what every
            code-location load (webserver, daemon, run worker, step process) does
  dagster   `dagster definitions validate -m pipelines.definitions`
  run       `dagster job execute` of one connection's job (customer_0001, a sandbox connection
            pointed at a sandbox API this script serves on 127.0.0.1, outside the children's CPU):
            what one Dagster run costs, every process it starts included (the run's code-location
            loads, the step, the sync of its 5 small streams)
and the per-connection figure (CPU s of the largest size minus the smallest, over the difference in
connections: the marginal cost, without the fixed start-up).
No network at load: every other base URL is a reserved address nothing listens on, and loading
must not call it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

REST_API = """\
name: {name}
environment: production
source:
  connector: rest_api
  config:
    base_url: https://api-{n}.example.invalid/v2
    auth: {{ type: bearer, token: "${{FLEET_TOKEN_{n}:-token-{n}}}" }}
    paginator: {{ type: offset, limit: 100 }}
    records: data
    streams:
{streams}
destination:
  connector: duckdb
  config: {{ path: warehouse.duckdb }}
namespace: custom_{name}
schedule: {{ cron: "{minute} */2 * * *", timezone: America/Chicago }}
retries: {{ attempts: 3, delay: 30s, backoff: exponential, jitter: true }}
"""
REST_STREAM = """\
      - name: {stream}
        path: /{stream}
        primary_key: [id]
        incremental: {{ cursor_field: updated_at, param: since }}
        schema: {{ id: int64, name: string, status: string, amount: float64, updated_at: timestamp }}
"""
SANDBOX = """\
name: {name}
environment: sandbox
source:
  connector: sandbox
  config:
    base_url: http://127.0.0.1:9
    api_key: "${{SANDBOX_KEY_{n}:-key-{n}}}"
destination:
  connector: duckdb
  config: {{ path: warehouse.duckdb }}
namespace: custom_{name}
schedule: {{ cron: "{minute} * * * *", timezone: America/New_York }}
retries: {{ attempts: 2, delay: 10s }}
streams:
  - name: properties
    sync_mode: full_refresh_overwrite
  - name: units
    sync_mode: full_refresh_append
  - name: residents
    sync_mode: incremental_deduped
  - name: leases
    sync_mode: incremental_deduped
    cursor_field: updated_at
    primary_key: [id]
  - name: work_orders
    sync_mode: incremental_append
"""
STREAMS = ("accounts", "contacts", "invoices", "payments", "tickets")


def write_workspace(root: Path, size: int) -> None:
    folder = root / "connections"
    folder.mkdir(parents=True)
    for n in range(size):
        name = f"customer_{n:04d}"
        if n % 2:
            text = SANDBOX.format(name=name, n=n, minute=n % 60)
        else:
            streams = "".join(REST_STREAM.format(stream=s) for s in STREAMS)
            text = REST_API.format(name=name, n=n, minute=n % 60, streams=streams)
        (folder / f"{name}.yaml").write_text(text)


RUN_CONNECTION = "customer_0001"


COMMANDS = {
    "validate": lambda: [str(BIN / "rooftop"), "validate", "--offline"],
    "load": lambda: [sys.executable, "-c", "import pipelines.definitions"],
    "dagster": lambda: [str(BIN / "dagster"), "definitions", "validate", "-m", "pipelines.definitions"],
    "run": lambda: [str(BIN / "dagster"), "job", "execute", "-m", "pipelines.definitions", "-j", RUN_CONNECTION],
}


@contextmanager
def sandbox_api(root: Path) -> Iterator[None]:
    """Serve a small sandbox API from this process and point the run's connection at it."""
    from connectors.sandbox.dataset import SandboxDataset
    from connectors.sandbox.server import SandboxServer

    server = SandboxServer(SandboxDataset(seed=1, scale=2), api_key="key-1").start()
    path = root / "connections" / f"{RUN_CONNECTION}.yaml"
    text = path.read_text()
    path.write_text(text.replace("http://127.0.0.1:9", server.url))
    try:
        yield
    finally:
        server.stop()
        path.write_text(text)


def cpu_of(command: list[str], root: Path) -> float:
    """CPU seconds (user+sys) of `command` run in `root`; raises if it fails."""
    env = {**os.environ, "ROOFTOP_WORKSPACE": str(root), "DAGSTER_HOME": str(root / ".dagster")}
    (root / ".dagster").mkdir(exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--only", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    args = parser.parse_args()
    results: dict[str, dict[int, float]] = {what: {} for what in args.only}
    with tempfile.TemporaryDirectory(prefix="rooftop-load-") as tmp:
        for size in args.sizes:
            root = Path(tmp) / f"ws{size}"
            write_workspace(root, size)
            for what in args.only:
                with sandbox_api(root) if what == "run" else nullcontext():
                    results[what][size] = cpu_of(COMMANDS[what](), root)
                print(f"{size:>5} connections  {what:<9} {results[what][size]:7.2f} CPU s", file=sys.stderr)
    header = f"| connections | {' | '.join(args.only)} |"
    print(header)
    print("|" + "---|" * (len(args.only) + 1))
    for size in args.sizes:
        print(f"| {size} | " + " | ".join(f"{results[w][size]:.2f}" for w in args.only) + " |")
    if len(args.sizes) > 1:
        low, high = min(args.sizes), max(args.sizes)
        per = [f"{(results[w][high] - results[w][low]) / (high - low) * 1000:.1f} ms" for w in args.only]
        print(f"| per connection ({low}→{high}) | " + " | ".join(per) + " |")
    print(textwrap.dedent("""
        CPU seconds (user+sys) of each child process, interpreter start and imports included."""))


if __name__ == "__main__":
    main()
