"""The `sql` source: any SQLAlchemy database (PostgreSQL with a COPY fast path, SQLite, DuckDB,
MySQL where a driver is installed). See `source.py` for discovery and incremental reads,
`readers.py` for the fetch paths and `types.py` for the type mapping."""

from typing import TYPE_CHECKING

from connectors.sql.config import SqlConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["SqlConfig", "SqlSource"]

# The classes bring their runtimes: imported when first used (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "SqlSource": "connectors.sql.source",
})

if TYPE_CHECKING:  # mypy checks the class against the Protocol the engine types it as
    from connectors.sql.source import SqlSource
    from protocol.types import Source

    _source: type[Source] = SqlSource
