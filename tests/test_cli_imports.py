"""`rooftop --help` starts without the heavy libraries (issue 15 item 4).

Dagster, DuckDB, pyarrow, httpx, FastAPI and SQLAlchemy cost about a second of CPU to import; the
commands that need them import them when they run. These tests run the CLI in a fresh interpreter
and look at what it imported: a set check, not a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines.writes import STATUSES

HEAVY = ("dagster", "duckdb", "pyarrow", "httpx", "fastapi", "sqlalchemy")
REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from pipelines.cli import main
sys.argv = ["rooftop", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)), file=sys.stderr)
"""


def _imported_by(*args: str, cwd: Path = REPO) -> tuple[set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return set(modules), done.stdout


def test_help_imports_none_of_the_heavy_libraries() -> None:
    modules, out = _imported_by("--help")
    assert "sync" in out and "validate" in out  # every command group is still registered
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_writes_help_lists_every_write_state() -> None:
    _modules, out = _imported_by("writes", "--help")
    assert all(state in out for state in STATUSES), out
