"""`PendingWrites`: sync-log changes a DuckDB destination holds until its next warehouse transaction.

Apart from `writer.py` (whose merge transactions apply them) so that opening a destination, which
needs only this, does not import the writer and with it pyarrow (`rooftop status`, issue 15).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb


class PendingWrites:
    """Sync-log changes waiting for the next warehouse transaction (`DuckDBDestination`)."""

    def __init__(self) -> None:
        self._ops: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], object]]] = []

    def add(self, table: str, op: Callable[[duckdb.DuckDBPyConnection], object]) -> None:
        self._ops.append((table, op))

    def touches(self, table: str) -> bool:
        return any(t == table for t, _ in self._ops)

    def __bool__(self) -> bool:
        return bool(self._ops)

    def apply(self, cur: duckdb.DuckDBPyConnection) -> int:
        """Run them in `cur`'s open transaction; `done(n)` once that committed. Callers hold the
        warehouse's visit lock, so no two applies overlap."""
        ops = list(self._ops)
        for _, op in ops:
            op(cur)
        return len(ops)

    def done(self, n: int) -> None:
        del self._ops[:n]
