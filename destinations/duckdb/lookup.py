"""Does a landed table hold a record? Read through a read-only connection, never the writer's lock.

Write-back asks it of every candidate connection when a caller gives a bare vendor id
(`PUT /v1/residents/3`): a question that must not queue behind, or block, a sync holding the
file. A read-only DuckDB connection shares the file with readers; it still cannot open while
another process writes the file, or while this process has it open for writing (DuckDB keeps one
configuration per file and process), so such a conflict is waited out like the writer's lock
(`lock_timeout_seconds`, backoff), then `WarehouseLocked`.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from destinations.duckdb.connection import MEMORY, is_lock_conflict
from destinations.duckdb.names import Names
from destinations.json_paths import json_holds, like_pattern
from destinations.sql_naming import quote_ident
from protocol.errors import WarehouseLocked

_FIRST_DELAY = 0.05
_MAX_DELAY = 1.0
_SAME_PROCESS = "different configuration"
"""DuckDB's message when this process already has the file open for writing."""


def record_exists(path: str, timeout_seconds: float, namespace: str, table: str, column: str, value: str,
                  json_path: tuple[str, ...] = ()) -> bool:
    """Whether a row of `namespace.table` has `column` (compared as text) equal to `value`, or with
    `json_path`, holds `value` at that path of the JSON in `column` (destinations.json_paths)."""
    if path == MEMORY or not Path(path).exists():
        return False  # nothing has landed in it (and a read-only connect would not create it)
    db = _connect_read_only(path, timeout_seconds)
    try:
        names = Names.of(db)
        found = db.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? "
            "AND table_name = ? AND column_name = ?", [names.catalog, namespace, table, column]).fetchone()
        if not found or not found[0]:
            return False  # no such table or column: no record of it here
        text = f"CAST({quote_ident(column)} AS VARCHAR)"
        if json_path:
            documents = db.execute(f"SELECT {text} FROM {names.table(namespace, table)} WHERE {text} LIKE ?",
                                   [like_pattern(value)]).fetchall()
            return any(json_holds(document, json_path, value) for (document,) in documents)
        row = db.execute(f"SELECT 1 FROM {names.table(namespace, table)} WHERE {text} = ? LIMIT 1", [value]).fetchone()
        return row is not None
    finally:
        db.close()


def _connect_read_only(path: str, timeout_seconds: float) -> duckdb.DuckDBPyConnection:
    start = time.monotonic()
    delay = _FIRST_DELAY
    while True:
        try:
            return duckdb.connect(path, read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not (is_lock_conflict(exc) if isinstance(exc, duckdb.IOException) else _SAME_PROCESS in str(exc)):
                raise
            waited = time.monotonic() - start
            if waited >= timeout_seconds:
                raise WarehouseLocked(f"DuckDB warehouse {path} is being written; gave up looking a record up "
                                      f"after {waited:.1f}s (lock_timeout_seconds): try again") from exc
            time.sleep(min(delay, timeout_seconds - waited))
            delay = min(delay * 2, _MAX_DELAY)
