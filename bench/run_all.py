"""Every issue-15 benchmark in one command, with the table of targets: measured, wanted, PASS/FAIL.

    .venv/bin/python bench/run_all.py            # 200k and 2M rows, pages of 1,000 and 5,000, medians of 3
    .venv/bin/python bench/run_all.py --quick    # 200k rows only: minutes, for a developer's loop

Sections (bench/suites.py): `http` (Rooftop full refresh vs the baseline vs dlt, sandbox work_orders),
`incremental` (incremental_deduped first load vs overwrite, then `rooftop sync` after 1 % changed; 1M
rows, 200k with --quick), `postgres` (leases table vs dlt's sql_table; 1M rows, 200k with --quick),
`cli` (CPU of the imports of `rooftop --help`, `validate --offline` and `status`, bench/cli_start.py).
dlt is installed on first use into bench/.venv-dlt (never into Rooftop's venv); --no-dlt skips it.
Writes bench/results/run_all.json (every median) and bench/results/run_all.md (the tables).
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

import cli_start  # noqa: E402 - bench/ is not a package: its modules import each other by path
import dlt_env  # noqa: E402
import measure  # noqa: E402
import suites  # noqa: E402
import targets  # noqa: E402

SECTIONS = ("http", "incremental", "postgres", "cli")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200k rows only (every section)")
    parser.add_argument("--rows", type=int, nargs="+", help="sizes of the http section (default 200000 2000000)")
    parser.add_argument("--page-size", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--cli-runs", type=int, default=cli_start.DEFAULT_RUNS,
                        help="cli section: interleaved rounds (each run is under a second)")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt (no venv is created)")
    parser.add_argument("--live-server", action="store_true",
                        help="http section: read the sandbox itself, not a replay of its pages (bench/replay.py)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "run_all",
                        help="path stem of the .json and .md results")
    return parser.parse_args()


def run(args: argparse.Namespace) -> dict[str, Any]:
    http_rows = args.rows or ([200_000] if args.quick else [200_000, 2_000_000])
    one_size = 200_000 if args.quick else 1_000_000
    wants_dlt = not args.no_dlt and {"http", "postgres"} & set(args.only)
    dlt_python = dlt_env.ensure_dlt_python() if wants_dlt else None
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
    if "cli" in args.only:
        results["cli"] = cli_start.cli_suite(args.cli_runs)
    results["load_average_at_end"] = os.getloadavg()
    return results


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    results = run(args)
    verdicts = targets.judge(results)
    results["targets"] = verdicts
    detail = targets.detail_rows(results)
    cli = targets.cli_detail_rows(results)
    runs = ", ".join(([str(args.repeat)] if set(args.only) - {"cli"} else [])
                     + ([f"{args.cli_runs} (cli)"] if "cli" in args.only else []))
    title = (f"issue 15 benchmark, medians of {runs} interleaved runs, {os.cpu_count()} cores, "
             f"load average {results['machine']['load_average_at_start'][0]:.1f} → "
             f"{results['load_average_at_end'][0]:.1f}, {time.perf_counter() - started:.0f} s")
    tables = [(header, lines) for header, lines in ((targets.DETAIL_HEADER, detail), (targets.CLI_HEADER, cli),
                                                    (targets.TARGET_HEADER, targets.target_lines(verdicts))) if lines]
    print(f"\n{title}\n\n" + "\n\n".join(targets.text_table(h, lines) for h, lines in tables))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.with_suffix(".md").write_text(
        f"# {title}\n\n" + "\n\n".join(targets.markdown_table(h, lines) for h, lines in tables) + "\n")
    print(f"\nwritten: {args.out.with_suffix('.json')}, {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
