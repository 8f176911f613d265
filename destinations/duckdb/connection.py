"""Opening the warehouse file: waiting for DuckDB's single-writer file lock, and session settings.

DuckDB lets exactly one process open a database file for writing; a second process gets an
`IOException` ("Could not set lock on file ... Conflicting lock is held in ... (PID n)"). Syncs
sharing the default warehouse take the file only for their commits (warehouse.py), but those still
meet, so every connect or ATTACH waits a bounded time with backoff and then raises
`WarehouseLocked`, a `TransientError` that the runtime retries, instead of failing the sync with a
raw DuckDB error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from destinations.sql_naming import quote_literal
from protocol.errors import WarehouseLocked

MEMORY = ":memory:"

# Substrings of DuckDB's lock-conflict messages: POSIX fcntl locks, and Windows sharing violations.
_LOCK_MARKERS = (
    "could not set lock on file",
    "being used by another process",
)
_PID_RE = re.compile(r"\(PID (\d+)\)")

_FIRST_DELAY = 0.02
# Commits are short now (syncs stage elsewhere, docs/state.md): a waiter polls often enough to
# take a free lock promptly, and the holder's commit is not slowed by it.
_MAX_DELAY = 0.1

T = TypeVar("T")


def is_lock_conflict(exc: duckdb.Error) -> bool:
    """True when `exc` says another process holds the file's lock (and nothing else)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and any(m in text for m in _LOCK_MARKERS)


def lock_holder_pid(message: str) -> int | None:
    """The PID DuckDB names in a lock-conflict message, if it names one (POSIX does)."""
    match = _PID_RE.search(message)
    return int(match.group(1)) if match else None


def connect_waiting_for_lock(
    path: str,
    timeout_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> duckdb.DuckDBPyConnection:
    """Connect to `path`, retrying lock conflicts with backoff (20 ms doubling to 100 ms).

    Raises `WarehouseLocked` once `timeout_seconds` have passed; every other DuckDB error (corrupt
    file, permissions, version mismatch) propagates unchanged on the first attempt, since waiting
    cannot fix it.
    """
    if path != MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return waiting_for_lock(lambda: duckdb.connect(path), path, timeout_seconds, sleep=sleep, clock=clock)


def waiting_for_lock(
    attempt: Callable[[], T],
    path: str,
    timeout_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`attempt()` (a connect or an ATTACH of `path`), retried while another process holds the
    file's lock, with backoff; `WarehouseLocked` after `timeout_seconds`."""
    start = clock()
    delay = _FIRST_DELAY
    while True:
        try:
            return attempt()
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise
            waited = clock() - start
            remaining = timeout_seconds - waited
            if remaining <= 0:
                raise _locked_error(path, str(exc), waited) from exc
            sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY)


def _locked_error(path: str, message: str, waited: float) -> WarehouseLocked:
    pid = lock_holder_pid(message)
    holder = f"process {pid}" if pid is not None else "another process"
    return WarehouseLocked(
        f"DuckDB warehouse {path} is locked by {holder}; gave up after waiting {waited:.1f}s "
        f"(lock_timeout_seconds). DuckDB allows one writing process per file, and syncs hold it "
        f"only while committing: close a session that holds it (a notebook, the CLI), or raise "
        f"lock_timeout_seconds if many syncs commit at once."
    )


def apply_settings(
    conn: duckdb.DuckDBPyConnection, *, memory_limit: str | None, threads: int | None
) -> None:
    """Apply the resource limits from the config. Both are database-wide settings in DuckDB, so
    setting them once on the root connection covers every cursor the writers create."""
    if memory_limit is not None:
        # SET takes no bound parameters; the value is quoted as a literal instead.
        conn.execute(f"SET GLOBAL memory_limit = {quote_literal(memory_limit)}")
    if threads is not None:
        conn.execute(f"SET GLOBAL threads = {int(threads)}")


def rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK, tolerating "no transaction is active".

    DuckDB ends a transaction by itself when its COMMIT fails (a write conflict, say), so the
    cleanup path cannot know whether one is still open. That one message means there is nothing
    to undo; every other error (a broken database) propagates.
    """
    try:
        cur.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        if "no transaction is active" not in str(exc).lower():
            raise
