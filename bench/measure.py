"""How every run of bench/run_all.py is measured: one child process per run, costs taken from outside.

A child prints one JSON line (rows, and `seconds`/`cpu_seconds` timed around its work only). The
parent adds what the child cannot see of itself: the whole process's wall time (interpreter start
and imports included, as a user pays them), its CPU as the delta of getrusage(RUSAGE_CHILDREN)
around the run (every thread, and any process it started and waited for). Peak RSS is the child's
own VmHWM, written at its exit by bench/peak_rss/sitecustomize.py (why not ru_maxrss: see there).
Servers the benchmark starts are children too, but they are reaped only at the end, so they never
enter a delta.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PEAK_RSS_HOOK = Path(__file__).resolve().parent / "peak_rss"


class ChildFailed(RuntimeError):
    """A benchmark child exited non-zero; the message carries the end of its stderr."""


def run_measured(argv: Sequence[str | Path], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, json_result: bool = True) -> dict[str, Any]:
    """Run argv to completion; its JSON line plus process_seconds, process_cpu_seconds and peak_rss_mb."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak_kib"
        python_path = os.pathsep.join(p for p in (str(PEAK_RSS_HOOK), os.environ.get("PYTHONPATH")) if p)
        # stderr to a file, not a pipe: communicate() would reap the child itself, before wait4
        child_env = {**os.environ, **(env or {}), "PYTHONPATH": python_path, "BENCH_PEAK_RSS_FILE": str(peak_file)}
        # Every side runs as an installed program does, from cached bytecode (compile_sources() at the
        # start): a PYTHONDONTWRITEBYTECODE in the caller's environment would make each Rooftop child
        # recompile its own modules while the baseline's libraries come precompiled.
        child_env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=err, cwd=cwd, env=child_env)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else None
        if status != 0:
            err.seek(0)
            raise ChildFailed(f"{' '.join(str(a) for a in argv[:3])}… exited {proc.returncode}:\n"
                              f"{err.read().decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1]) if json_result else {}
    result["process_seconds"] = wall
    result["process_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if peak_kib is None:
        raise ChildFailed(f"{argv[0]} did not report its peak RSS (not a Python child, or it left by os._exit)")
    result["peak_rss_mb"] = peak_kib / 1024
    result["ru_maxrss_mb"] = usage.ru_maxrss / 1024  # kept to show the difference; includes the parent's peak
    return result


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric measure, the median over the runs (rows are equal in every run: checked by callers)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys} | {"runs": len(runs)}


def interleaved(repeat: int, variants: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run each variant (a no-argument callable) `repeat` times in rounds, A B C A B C…; medians per name.

    Rounds rather than blocks, so a burst of load from elsewhere on the machine hits every variant alike.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            runs[name].append(run())
    return {name: median(rs) for name, rs in runs.items()}


def expect_rows(name: str, result: dict[str, Any], rows: int) -> dict[str, Any]:
    """A run that moved the wrong number of rows measured something else: stop rather than report it."""
    if result.get("rows") != rows:
        raise ChildFailed(f"{name} moved {result.get('rows')} rows, expected {rows}")
    return result


def compile_sources() -> None:
    """Byte-compile Rooftop's packages (wherever PYTHONPATH finds them) before the first measured child."""
    import compileall
    import importlib.util

    for package in ("protocol", "connectors", "destinations", "pipelines"):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)
