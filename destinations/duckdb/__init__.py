"""The DuckDB destination: Rooftop's embedded default warehouse.

Registered as the `duckdb` entry point of `rooftop.destinations`. See `destination.py` for the
life cycle, `writer.py` for how each sync mode writes, `state.py` for `_rooftop` state and sync
log, `bookkeeping.py` for the other `_rooftop` tables, `diffs.py` for the row-level diffs a merge
records, and `connection.py` for the file-lock wait. A sync holds the file only while it commits:
`staging.py` keeps its rows beside the warehouse until then, `warehouse.py` makes every other use
of the file a short visit.
"""

from typing import TYPE_CHECKING

from destinations.duckdb.config import DuckDBConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["DuckDBConfig", "DuckDBDestination", "DuckDBStreamWriter"]

# The classes bring their runtimes: imported when first used (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "DuckDBDestination": "destinations.duckdb.destination",
    "DuckDBStreamWriter": "destinations.duckdb.writer",
})

if TYPE_CHECKING:  # mypy checks both classes against the Protocols the engine types them as
    from destinations.duckdb.destination import DuckDBDestination
    from destinations.duckdb.writer import DuckDBStreamWriter
    from protocol.types import Destination, StreamWriter

    _destination: type[Destination] = DuckDBDestination
    _writer: type[StreamWriter] = DuckDBStreamWriter
