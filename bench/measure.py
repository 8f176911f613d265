"""How every run of bench/run_all.py is measured: one child process per run, costs taken from outside.

A child prints one JSON line (rows, and `seconds`/`cpu_seconds` timed around its work only). The
parent adds what the child cannot see of itself: the whole process's wall time (interpreter start
and imports included, as a user pays them), its CPU as the delta of getrusage(RUSAGE_CHILDREN)
around the run (every thread, and any process it started and waited for), and its peak RSS
(ru_maxrss from wait4). Servers the benchmark starts are children too, but they are reaped only at
the end, so they never enter a delta.
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


class ChildFailed(RuntimeError):
    """A benchmark child exited non-zero; the message carries the end of its stderr."""


def run_measured(argv: Sequence[str | Path], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, json_result: bool = True) -> dict[str, Any]:
    """Run argv to completion; its JSON line plus process_seconds, process_cpu_seconds and peak_rss_mb."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: communicate() would reap the child itself
        proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=err,
                                env={**os.environ, **(env or {})}, cwd=cwd)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if status != 0:
            err.seek(0)
            raise ChildFailed(f"{' '.join(str(a) for a in argv[:3])}… exited {proc.returncode}:\n"
                              f"{err.read().decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1]) if json_result else {}
    result["process_seconds"] = wall
    result["process_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
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
