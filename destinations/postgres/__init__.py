"""The Postgres destination: a PostgreSQL warehouse loaded with COPY.

Registered as the `postgres` entry point of `rooftop.destinations`. See `destination.py` for the
life cycle and locking, `writer.py` for how each sync mode writes, `state.py` for `_rooftop.state`
and `_rooftop.syncs`, `bookkeeping.py` for the other `_rooftop` tables (sync logs, properties,
diffs), `diffs.py` for the row-level diffs a merge records, and `types.py` / `binary.py` for the
Arrow ↔ PostgreSQL types and the COPY encoding.
"""

from typing import TYPE_CHECKING

from destinations.postgres.config import PostgresConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["PostgresConfig", "PostgresDestination", "PostgresStreamWriter"]

# The classes bring their runtimes: imported when first used (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "PostgresDestination": "destinations.postgres.destination",
    "PostgresStreamWriter": "destinations.postgres.writer",
})

if TYPE_CHECKING:  # mypy checks both classes against the Protocols the engine types them as
    from destinations.postgres.destination import PostgresDestination
    from destinations.postgres.writer import PostgresStreamWriter
    from protocol.types import Destination, StreamWriter

    _destination: type[Destination] = PostgresDestination
    _writer: type[StreamWriter] = PostgresStreamWriter
