"""Short visits to the warehouse file: one in-memory DuckDB "hub" per destination attaches it briefly.

DuckDB's file lock is per process and per open database, so a destination that kept the warehouse
open for a whole sync kept every other sync (and every analyst) out. The hub is an in-memory DuckDB
instance that the destination keeps for its life; it attaches

the warehouse as `_rooftop_warehouse` only inside `reading()` (READ_ONLY: a shared lock, so it
coexists with analysts' read-only sessions) or `writing()` (the write lock, for one commit), and
detaches it at once, which releases the file for the next process. A process-wide lock per
warehouse path serialises visits: DuckDB must not open one file twice in one process (its file
lock does not guard against its own process). Staged rows (Arrow IPC files in this destination's
staging directory, `staging.py`) are scanned from there by the merge (writer.py).

A `:memory:` warehouse (tests) is the hub's own database, always "attached"; its staging
directory is a temporary one.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from destinations.duckdb.connection import MEMORY, apply_settings, waiting_for_lock
from destinations.duckdb.names import Names
from destinations.duckdb.staging import StagingDir
from destinations.sql_naming import quote_ident, quote_literal

WAREHOUSE_ALIAS = "_rooftop_warehouse"

_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def process_lock(path: str) -> threading.Lock:
    """The lock of this process's visits to `path` (hold it to open the file any other way)."""
    if path == MEMORY:
        return threading.Lock()  # every :memory: warehouse is a database of its own
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.Lock())


class Warehouse:
    """The hub of one open destination. Thread-safe: every visit takes its own cursor."""

    def __init__(self, path: str, *, lock_timeout_seconds: float, memory_limit: str | None,
                 threads: int | None) -> None:
        self.path = path
        self.lock_timeout_seconds = lock_timeout_seconds
        self.memory = path == MEMORY
        # The in-memory hub's own catalog is called `memory`; the warehouse always has one name.
        self.names = Names("memory" if self.memory else WAREHOUSE_ALIAS)
        self._visit_lock = process_lock(path)
        self._stage_lock = threading.Lock()
        self._staging: StagingDir | None = None
        self._memory_tmp: str | None = None
        if not self.memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._hub = duckdb.connect(":memory:")
        try:
            apply_settings(self._hub, memory_limit=memory_limit, threads=threads)
        except BaseException:
            self._hub.close()
            raise

    @property
    def exists(self) -> bool:
        return self.memory or Path(self.path).exists()

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor with the warehouse attached read-only (waits while a commit holds the file)."""
        with self._visit(read_only=True) as cur:
            yield cur

    @contextlib.contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor with the warehouse attached for writing: keep it to one transaction."""
        with self._visit(read_only=False) as cur:
            yield cur

    @contextlib.contextmanager
    def _visit(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._visit_lock:
            cur = self._hub.cursor()
            try:
                if not self.memory:
                    attach = (f"ATTACH {quote_literal(self.path)} AS {quote_ident(WAREHOUSE_ALIAS)}"
                              + (" (READ_ONLY)" if read_only else ""))
                    waiting_for_lock(lambda: cur.execute(attach), self.path, self.lock_timeout_seconds)
                try:
                    yield cur
                finally:
                    if not self.memory:
                        cur.execute(f"DETACH {quote_ident(WAREHOUSE_ALIAS)}")
            finally:
                cur.close()

    def staging_dir(self) -> Path:
        """This destination's staging directory, created (and stale ones removed) on first use."""
        with self._stage_lock:
            if self._staging is None:
                self._staging = StagingDir(self.path if not self.memory else self._memory_root())
                # Merges that outgrow memory_limit spill here, beside the warehouse and removed
                # with the staging, rather than into DuckDB's default `.tmp` of the current directory.
                spill = quote_literal(str(self._staging.path / "duckdb.tmp"))
                self._hub.execute(f"SET GLOBAL temp_directory = {spill}")
            return self._staging.path

    def _memory_root(self) -> str:
        if self._memory_tmp is None:
            self._memory_tmp = tempfile.mkdtemp(prefix="rooftop-memory-")
        return str(Path(self._memory_tmp) / "memory")

    def close(self) -> None:
        """Close the hub and remove this destination's staging directory."""
        with contextlib.ExitStack() as stack:
            if self._staging is not None:
                stack.callback(self._staging.close)
            stack.callback(self._hub.close)
            if self._memory_tmp is not None:
                stack.callback(shutil.rmtree, self._memory_tmp, True)
