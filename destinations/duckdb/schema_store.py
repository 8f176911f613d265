"""`_rooftop.schemas` read before the DuckDB destination opens (protocol.schema_store).

Discovery, which needs the schemas a source learnt, runs before planning and so before the
destination is opened (bad input never touches the warehouse). The entries are read the way
`lookup.py` reads a record: a read-only connection of its own, under this process's visit lock for
the file, waiting out another process's commit like the writer's lock does. A file that does not
exist yet holds none (and is not created). Saves are written by the destination (`schema_store()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from destinations.duckdb import bookkeeping
from destinations.duckdb.connection import MEMORY
from destinations.duckdb.lookup import _connect_read_only
from destinations.duckdb.names import Names
from destinations.duckdb.warehouse import process_lock
from protocol.bookkeeping import SCHEMAS

if TYPE_CHECKING:
    import pyarrow as pa


def read(path: str, timeout_seconds: float, connection: str) -> pa.Table:
    """`connection`'s rows of `_rooftop.schemas` in the file at `path` (none in a `:memory:` warehouse,
    which is this destination's alone and new with it)."""
    if path == MEMORY or not Path(path).exists():
        return SCHEMAS.schema.empty_table()
    with process_lock(path):
        db = _connect_read_only(path, timeout_seconds)  # waits out a commit like a record lookup
        try:
            return bookkeeping.read(db, Names.of(db), SCHEMAS, connection)
        finally:
            db.close()
