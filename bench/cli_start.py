"""What starting the CLI costs: issue 15 item 4 wants `rooftop --help`, `validate --offline` and `status`
on the demo workspace each to start in <= 0.3 CPU seconds of imports.

    .venv/bin/python bench/cli_start.py [--runs 7]     # or: bench/run_all.py --only cli

tests/test_cli_imports.py guards which libraries each command imports (a set, not a time); this
measures the time. Every run is a fresh interpreter running the venv's `rooftop` entry-point script,
as a user's shell does, in a copy of the repo's `connections/` (the demo workspace), from compiled
bytecode (measure.compile_sources, as every bench child). The commands run interleaved, A B C D A B C D.

Per run, from one child:
  imports CPU s   CPU (user + sys, time.process_time) spent inside top-level imports, whenever they
                  happen: at start-up or lazily inside the command (status imports DuckDB when it opens
                  the warehouse; that counts). This is the figure judged against 0.3 s. It is taken by a
                  probe in the child, not in product code: the child is `python -c PROBE <rooftop script>`,
                  and PROBE wraps importlib's `_find_and_load`, the call `-X importtime` times in C, so
                  its boundaries are importtime's top-level ones. Only the main thread's imports count.
  imports wall s  the same boundaries by the wall clock: what summing `-X importtime`'s top-level
                  cumulative column gives. The unprobed check run of each command (`-X importtime`, one
                  run before the rounds) prints that sum beside the probe's own wall figure.
  start CPU s     the interpreter's start-up before the entry script (site, the peak-RSS hook).
  CPU s / wall s  the whole process (measure.run_measured: getrusage of the child), work included.
Calibration lines: `python -c pass` (the interpreter alone) and `python -c "import httpx, orjson,
duckdb, pyarrow"`, so a run on a loaded machine can be read against another.
`status` runs on a workspace synced once beforehand (`rooftop sync --all`, the demo's two sandbox
connections into warehouse.duckdb) and on a fresh copy per run (it creates the warehouse).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

import measure  # noqa: E402 - bench/ is not a package: its modules import each other by path

PYTHON = sys.executable
ROOFTOP_SCRIPT = Path(sys.executable).parent / "rooftop"
DEMO_CONNECTIONS = HERE.parent / "connections"
DEFAULT_RUNS = 7
CHILD_ENV = {"NO_COLOR": "1", "COLUMNS": "160"}

PROBE = r"""
import _thread, os, sys, time
start_cpu = time.process_time()
bootstrap = sys.modules["_frozen_importlib"]
find_and_load = bootstrap._find_and_load
main_thread = _thread.get_ident()
spent = {"import_cpu_seconds": 0.0, "import_seconds": 0.0, "top_level_imports": 0}
depth = 0

def timed_find_and_load(name, import_):
    global depth
    if depth or _thread.get_ident() != main_thread:
        return find_and_load(name, import_)
    depth, cpu, wall = 1, time.process_time(), time.perf_counter()
    try:
        return find_and_load(name, import_)
    finally:
        spent["import_cpu_seconds"] += time.process_time() - cpu
        spent["import_seconds"] += time.perf_counter() - wall
        spent["top_level_imports"] += 1
        depth = 0

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(script)  # what running the script itself puts first, instead of -c's cwd
with open(script) as source:
    code = compile(source.read(), script, "exec")
bootstrap._find_and_load = timed_find_and_load
exit_code = 0
try:
    exec(code, {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__})
except SystemExit as exc:
    exit_code = exc.code
bootstrap._find_and_load = find_and_load
import json
sys.stdout.flush()
print(json.dumps({**spent, "start_cpu_seconds": start_cpu, "modules": len(sys.modules)}))
sys.exit(exit_code)
"""

CALIBRATION = {"python -c pass": "pass",
               "import httpx, orjson, duckdb, pyarrow": "import httpx, orjson, duckdb, pyarrow"}

IMPORTTIME_TOP_LEVEL = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S)", re.MULTILINE)


def importtime_top_level_seconds(stderr: str) -> float:
    """The sum of `-X importtime`'s cumulative column over its top-level (unindented) imports."""
    return sum(int(m[1]) for m in IMPORTTIME_TOP_LEVEL.finditer(stderr)) / 1e6


@contextmanager
def demo_workspaces() -> Iterator[tuple[Path, Path, Callable[[], Path]]]:
    """(a copy of the demo workspace, a copy synced once, a maker of fresh copies), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rooftop-cli-start-") as tmp:
        count = 0

        def fresh() -> Path:
            nonlocal count
            count += 1
            root = Path(tmp) / f"fresh-{count}"
            shutil.copytree(DEMO_CONNECTIONS, root / "connections")
            return root

        demo, synced = fresh(), fresh()
        done = subprocess.run([ROOFTOP_SCRIPT, "sync", "--all"], cwd=synced, capture_output=True, text=True,
                              env=os.environ | CHILD_ENV, timeout=300, check=False)
        if done.returncode != 0 or not (synced / "warehouse.duckdb").exists():
            raise measure.ChildFailed(f"rooftop sync --all of the demo workspace failed:\n{done.stdout}{done.stderr}")
        yield demo, synced, fresh


def _commands(demo: Path, synced: Path, fresh: Callable[[], Path]
              ) -> dict[str, tuple[list[str], Callable[[], Path], tuple[str, ...]]]:
    """name -> (arguments, the workspace to run in, what its output must hold)."""
    return {
        "--help": (["--help"], lambda: demo, ("sync", "validate", "status")),
        "validate --offline": (["validate", "--offline"], lambda: demo, ("✓ sandbox_leasing", "✓ sandbox_maintenance")),
        "status (synced)": (["status"], lambda: synced, ("910 rows, ok", "600 rows, ok")),
        "status (fresh)": (["status"], fresh, ("sandbox_leasing: never synced", "sandbox_maintenance: never synced")),
    }


def check_run(name: str, args: list[str], cwd: Path, expect: tuple[str, ...]) -> dict[str, float]:
    """One unmeasured run with `-X importtime`: the command does what it should, and the importtime sum."""
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", PROBE, ROOFTOP_SCRIPT, *args], cwd=cwd,
                          capture_output=True, text=True, env=os.environ | CHILD_ENV, timeout=120, check=False)
    missing = [e for e in expect if e not in done.stdout]
    if done.returncode != 0 or missing:
        raise measure.ChildFailed(f"rooftop {' '.join(args)} ({name}) exited {done.returncode}, output lacks "
                                  f"{missing}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return {"importtime_seconds": importtime_top_level_seconds(done.stderr), "probe_import_seconds":
            probe["import_seconds"]}


def cli_suite(runs: int = DEFAULT_RUNS) -> dict[str, Any]:
    """Medians per command and calibration line over `runs` interleaved rounds, plus each importtime check."""
    measure.compile_sources()
    with demo_workspaces() as (demo, synced, fresh):
        commands = _commands(demo, synced, fresh)
        checks = {name: check_run(name, args, workspace(), expect)
                  for name, (args, workspace, expect) in commands.items()}

        def command_run(args: list[str], workspace: Callable[[], Path]) -> Callable[[], dict[str, Any]]:
            return lambda: measure.run_measured([PYTHON, "-c", PROBE, ROOFTOP_SCRIPT, *args], cwd=workspace(),
                                                env=CHILD_ENV)

        def calibration_run(code: str) -> Callable[[], dict[str, Any]]:
            return lambda: measure.run_measured([PYTHON, "-c", code], json_result=False)

        variants = {name: command_run(args, workspace) for name, (args, workspace, _) in commands.items()}
        variants |= {name: calibration_run(code) for name, code in CALIBRATION.items()}
        print(f"  cli: {' / '.join(variants)} × {runs}", file=sys.stderr)
        medians = measure.interleaved(runs, variants)
    return {"runs": runs,
            "commands": {name: medians[name] | checks[name] for name in commands},
            "calibration": {name: medians[name] for name in CALIBRATION}}


def main() -> None:
    import targets

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="interleaved rounds; medians shown")
    results = {"cli": cli_suite(parser.parse_args().runs)}
    print(targets.text_table(targets.CLI_HEADER, targets.cli_detail_rows(results)))
    print()
    print(targets.text_table(targets.TARGET_HEADER, targets.target_lines(targets.judge(results))))


if __name__ == "__main__":
    main()
