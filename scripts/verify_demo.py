"""Check that the demo warehouse holds exactly the sandbox's data: counts and a checksum per table.

    python scripts/verify_demo.py warehouse.duckdb [--workspace .]

For every stream the example connections synced, the sandbox dataset (same seed and scale as the
connection's config) is regenerated in-process and compared with the landed table over every
column the stream selected: values on both sides are put into one canonical text form (numbers to
6 decimals, dates ISO, timestamps UTC `…Z`), rows sorted and hashed with SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from connectors.sandbox.dataset import SandboxDataset
from pipelines.workspace.loading import load_workspace


def canon(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return f"{float(value):.6f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: canon(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [canon(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def digest(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = sorted(orjson.dumps([canon(row.get(c)) for c in columns]) for row in rows)
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args()
    workspace = load_workspace(args.workspace)
    con = duckdb.connect(str(args.warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    failures = 0
    print(f"{'table':<40} {'rows':>8}  {'checksum (sha256, all columns)':<20}  result")
    for conn in workspace.connections.values():
        if conn.config.source.connector != "sandbox":
            continue
        cfg = conn.source_config
        dataset = SandboxDataset(seed=cfg.seed, scale=cfg.scale, counts=dict(cfg.counts))  # type: ignore[attr-defined]
        latest = con.execute(
            "SELECT stream, arg_max(extra->>'namespace', finished_at), arg_max(extra->>'table', finished_at) "
            "FROM _rooftop.syncs WHERE connection = ? AND status = 'succeeded' GROUP BY stream ORDER BY stream",
            [conn.name]).fetchall()
        for stream, namespace, table in latest:
            source_rows = list(dataset.current_records(stream))
            landed = con.sql(f'SELECT * FROM "{namespace}"."{table}"').to_arrow_table().to_pylist()
            columns = [c for c in (landed[0] if landed else {}) if source_rows and c in source_rows[0]]
            ours, theirs = digest(landed, columns), digest(source_rows, columns)
            ok = len(landed) == len(source_rows) and ours == theirs
            failures += not ok
            verdict = "match" if ok else f"MISMATCH (sandbox has {len(source_rows)} rows, {theirs[:12]})"
            print(f"{namespace + '.' + table:<40} {len(landed):>8}  {ours[:20]:<20}  {verdict}")
    print("verified: every table matches the sandbox" if not failures else f"{failures} table(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
