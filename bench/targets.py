"""Issue 15's targets judged on bench/run_all.py's medians, and the tables that show them.

Throughput is rows per second of the whole child process (interpreter start and imports included)
by wall clock and by CPU (user + sys, every thread): what a user's `rooftop sync` pays. The figures
timed around the work only (`work s`, `work CPU`) are kept beside them in the detail table.
A target row is (what, measured, target, PASS/FAIL); a missing measurement (dlt not installed,
a section skipped) is not a row, so the table never shows a verdict on nothing.
"""

from __future__ import annotations

from typing import Any

RSS_LIMIT_MB = 300
RSS_GROWTH = 1.25
CLI_IMPORT_CPU_S = 0.3
CLI_TARGETS = {"--help": "`rooftop --help` imports", "validate --offline": "`validate --offline` imports (demo)",
               "status (synced)": "`status` imports (demo, synced)"}
"""bench/cli_start.py's command -> its target row (the fresh `status` is shown in the detail table only)."""


def _per_cpu(rows: int, m: dict[str, Any]) -> float:
    return float(rows / m["process_cpu_seconds"])


def _per_wall(rows: int, m: dict[str, Any]) -> float:
    return float(rows / m["process_seconds"])


def _size(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def _at_least(what: str, measured: float, target: float, work_only: float | None = None) -> dict[str, Any]:
    """Judged on the whole process; the ratio of the work-only timings is shown beside it, not judged."""
    shown = f"{measured:.2f}×" + (f" (work only {work_only:.2f}×)" if work_only is not None else "")
    return {"what": what, "measured": shown, "target": f"≥ {target:g}×",
            "verdict": "PASS" if measured >= target else "FAIL", "value": measured, "work_only": work_only}


def _work_ratio(ours: dict[str, Any], other: dict[str, Any], key: str) -> float | None:
    """other's work-only seconds over ours (higher is better for ours), when both children reported them."""
    return float(other[key] / ours[key]) if key in ours and key in other else None


def _at_most(what: str, measured: float, target: float, unit: str) -> dict[str, Any]:
    shown = f"{measured:.0f} {unit}" if unit == "MB" else f"{measured:.2f}{unit}"
    return {"what": what, "measured": shown, "target": f"≤ {target:g}{' ' if unit == 'MB' else ''}{unit}",
            "verdict": "PASS" if measured <= target else "FAIL", "value": measured}


def _floor_row(what: str, rows: int, floor: dict[str, Any], other: dict[str, Any], target: float) -> dict[str, Any]:
    """Not a target: whether the floor (bench/floor.py, a loader with none of Rooftop's features)
    reaches `target` against `other` by CPU and by wall: a ratio it misses is out of reach for anyone."""
    cpu = _per_cpu(rows, floor) / _per_cpu(rows, other)
    wall = _per_wall(rows, floor) / _per_wall(rows, other)
    reach = "reachable" if min(cpu, wall) >= target else "out of reach" if max(cpu, wall) < target else "partly"
    return {"what": f"(reference) floor vs {what}, CPU / wall", "measured": f"{cpu:.2f}× / {wall:.2f}×",
            "target": f"≥ {target:g}×", "verdict": f"floor: {reach}", "value": cpu}


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows_out: list[dict[str, Any]] = []
    http = results.get("http", [])
    for r in http:
        n, label = r["rows"], f"{_size(r['rows'])}, page {r['page_size']}"
        ours = r["rooftop"]
        for other, target in (("baseline", 1.5), ("dlt", 2.0)):
            if other in r:
                rows_out.append(_at_least(f"full refresh vs {other}, rows/CPU-s ({label})",
                                          _per_cpu(n, ours) / _per_cpu(n, r[other]), target,
                                          _work_ratio(ours, r[other], "cpu_seconds")))
                rows_out.append(_at_least(f"full refresh vs {other}, rows/wall-s ({label})",
                                          _per_wall(n, ours) / _per_wall(n, r[other]), target,
                                          _work_ratio(ours, r[other], "seconds")))
                if "floor" in r:
                    rows_out.append(_floor_row(f"{other} ({label})", n, r["floor"], r[other], target))
        rows_out.append(_at_most(f"full refresh peak RSS ({label})", ours["peak_rss_mb"], RSS_LIMIT_MB, "MB"))
    sizes = sorted({r["rows"] for r in http})
    if len(sizes) >= 2:
        for page in sorted({r["page_size"] for r in http}):
            peak = {r["rows"]: r["rooftop"]["peak_rss_mb"] for r in http if r["page_size"] == page}
            rows_out.append(_at_most(f"peak RSS {_size(sizes[-1])} / {_size(sizes[0])} (page {page})",
                                     peak[sizes[-1]] / peak[sizes[0]], RSS_GROWTH, "×"))
    inc = results.get("incremental")
    if inc:
        label = f"{_size(inc['rows'])}, page {inc['page_size']}"
        first, overwrite = inc["incremental_first_load"], inc["overwrite"]
        rows_out.append(_at_most(f"incremental_deduped first load CPU / overwrite CPU ({label})",
                                 first["process_cpu_seconds"] / overwrite["process_cpu_seconds"], 1.2, "×"))
        rows_out.append(_at_most(f"incremental_deduped first load peak RSS ({label})",
                                 first["peak_rss_mb"], RSS_LIMIT_MB, "MB"))
        rows_out.append(_at_most(f"`rooftop sync` after 1 % changed, process wall ({label})",
                                 inc["incremental_after_1pct"]["process_seconds"], 2.0, " s"))
    pg = results.get("postgres")
    if pg and "dlt" in pg:
        n, label = pg["rows"], _size(pg["rows"])
        rows_out.append(_at_least(f"Postgres → DuckDB vs dlt sql_table(pyarrow), rows/CPU-s ({label})",
                                  _per_cpu(n, pg["rooftop"]) / _per_cpu(n, pg["dlt"]), 1.5,
                                  _work_ratio(pg["rooftop"], pg["dlt"], "cpu_seconds")))
        rows_out.append(_at_least(f"Postgres → DuckDB vs dlt sql_table(pyarrow), rows/wall-s ({label})",
                                  _per_wall(n, pg["rooftop"]) / _per_wall(n, pg["dlt"]), 1.5,
                                  _work_ratio(pg["rooftop"], pg["dlt"], "seconds")))
    if cli := results.get("cli"):
        rows_out += [_at_most(f"{what}, CPU s", cli["commands"][name]["import_cpu_seconds"], CLI_IMPORT_CPU_S, " s")
                     for name, what in CLI_TARGETS.items() if name in cli["commands"]]
    return rows_out


def detail_rows(results: dict[str, Any]) -> list[list[str]]:
    """One line per (section, size, page, variant): the medians every target row is computed from."""
    lines = []
    runs: list[tuple[str, int, str, str, dict[str, Any]]] = []
    for r in results.get("http", []):
        runs += [("http", r["rows"], str(r["page_size"]), name, m)
                 for name, m in r.items() if isinstance(m, dict)]
    if inc := results.get("incremental"):
        # the 1 % sync's rows are the changed ones: rows/s of the whole table would flatter it
        runs += [("incremental", int(m.get("changed", inc["rows"])), str(inc["page_size"]), name, m)
                 for name, m in inc.items() if isinstance(m, dict)]
    if pg := results.get("postgres"):
        runs += [("postgres", pg["rows"], "", name, m) for name, m in pg.items() if isinstance(m, dict)]
    for section, n, page, name, m in runs:
        work = f"{m['seconds']:.2f}" if "seconds" in m else ""
        work_cpu = f"{m['cpu_seconds']:.2f}" if "cpu_seconds" in m else ""
        slow = f"{m['slow_pages']:.0f}/{m['pages']:.0f}" if m.get("pages") else ""
        lines.append([section, f"{n:,}", page, name, f"{m['process_seconds']:.2f}", f"{m['process_cpu_seconds']:.2f}",
                      f"{_per_wall(n, m):,.0f}", f"{_per_cpu(n, m):,.0f}", f"{m['peak_rss_mb']:.0f}",
                      work, work_cpu, slow])
    return lines


def cli_detail_rows(results: dict[str, Any]) -> list[list[str]]:
    """One line per CLI command and calibration run (bench/cli_start.py): medians, imports beside the whole."""
    cli = results.get("cli")
    if not cli:
        return []
    lines = []
    for name, m in [*cli["commands"].items(), *cli["calibration"].items()]:
        probed = ([f"{m['import_cpu_seconds']:.3f}", f"{m['import_seconds']:.3f}",
                   f"{m['importtime_seconds']:.3f} / {m['probe_import_seconds']:.3f}", f"{m['start_cpu_seconds']:.3f}"]
                  if "import_cpu_seconds" in m else ["", "", "", ""])  # calibration: whole process only
        lines.append([name, *probed, f"{m['process_cpu_seconds']:.3f}", f"{m['process_seconds']:.3f}",
                      f"{m['peak_rss_mb']:.0f}", f"{m['modules']:.0f}" if "modules" in m else ""])
    return lines


CLI_HEADER = ["command (cli)", "imports CPU s", "imports wall s", "importtime / probe wall s (check run)",
              "start CPU s", "CPU s", "wall s", "peak MB", "modules"]
DETAIL_HEADER = ["section", "rows", "page", "run", "wall s", "CPU s", "rows/wall-s", "rows/CPU-s", "peak MB",
                 "work s", "work CPU s", "slow pages"]
TARGET_HEADER = ["target", "measured", "wanted", "verdict"]


def text_table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:  # first column left-aligned (names), figures right-aligned
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)])


def markdown_table(header: list[str], lines: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(line) + " |" for line in lines)])


def target_lines(targets: list[dict[str, Any]]) -> list[list[str]]:
    return [[t["what"], t["measured"], t["target"], t["verdict"]] for t in targets]
