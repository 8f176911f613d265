"""Every issue-15 benchmark in one command, with the table of targets: measured, wanted, PASS/FAIL.

    .venv/bin/python bench/run_all.py            # 200k and 2M rows, pages of 1,000 and 5,000, medians of 3
    .venv/bin/python bench/run_all.py --quick    # 200k rows only: minutes, for a developer's loop

Sections (bench/suites.py): `http` (Rooftop full refresh vs the baseline vs dlt, sandbox work_orders),
`incremental` (incremental_deduped first load vs overwrite, then `rooftop sync` after 1 % changed; 1M
rows, 200k with --quick), `postgres` (leases table vs dlt's sql_table; 1M rows, 200k with --quick).
dlt is installed on first use into bench/.venv-dlt (never into Rooftop's venv); --no-dlt skips it.
Writes bench/results/run_all.json (every median) and bench/results/run_all.md (both tables).
Exit status 0 whatever the verdicts: this measures, CI does not gate on wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import dlt_env  # noqa: E402 - bench/ is not a package: its modules import each other by path
import measure  # noqa: E402
import suites  # noqa: E402
import targets  # noqa: E402

SECTIONS = ("http", "incremental", "postgres")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200k rows only (every section)")
    parser.add_argument("--rows", type=int, nargs="+", help="sizes of the http section (default 200000 2000000)")
    parser.add_argument("--page-size", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt (no venv is created)")
    parser.add_argument("--live-server", action="store_true",
                        help="http section: read the sandbox itself, not a replay of its pages (bench/replay.py)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "run_all",
                        help="path stem of the .json and .md results")
    return parser.parse_args()


def run(args: argparse.Namespace) -> dict[str, Any]:
    http_rows = args.rows or ([200_000] if args.quick else [200_000, 2_000_000])
    one_size = 200_000 if args.quick else 1_000_000
    dlt_python = None if args.no_dlt else dlt_env.ensure_dlt_python()
    measure.compile_sources()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "quick": args.quick, "repeat": args.repeat,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "dlt": None if dlt_python is None else dlt_env.REQUIREMENTS[0],
        "http_server": "live sandbox" if args.live_server else "replay of the sandbox's pages"}
    if "http" in args.only:
        results["http"] = [r for n in http_rows
                           for r in suites.http_suite(n, args.page_size, args.repeat, dlt_python, args.live_server)]
    if "incremental" in args.only:
        results["incremental"] = suites.incremental_suite(one_size, max(args.page_size), args.repeat)
    if "postgres" in args.only:
        results["postgres"] = suites.postgres_suite(one_size, args.repeat, dlt_python)
    results["load_average_at_end"] = os.getloadavg()
    return results


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    results = run(args)
    verdicts = targets.judge(results)
    results["targets"] = verdicts
    detail = targets.detail_rows(results)
    title = (f"issue 15 benchmark, medians of {args.repeat} interleaved runs, {os.cpu_count()} cores, "
             f"load average {results['machine']['load_average_at_start'][0]:.1f} → "
             f"{results['load_average_at_end'][0]:.1f}, {time.perf_counter() - started:.0f} s")
    print(f"\n{title}\n\n{targets.text_table(targets.DETAIL_HEADER, detail)}\n\n"
          f"{targets.text_table(targets.TARGET_HEADER, targets.target_lines(verdicts))}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.with_suffix(".md").write_text(
        f"# {title}\n\n{targets.markdown_table(targets.DETAIL_HEADER, detail)}\n\n"
        f"{targets.markdown_table(targets.TARGET_HEADER, targets.target_lines(verdicts))}\n")
    print(f"\nwritten: {args.out.with_suffix('.json')}, {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
