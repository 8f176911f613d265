"""The Parquet destination: a directory per namespace, a folder of Parquet files per table.

Registered as the `parquet` entry point of `rooftop.destinations`. See `layout.py` for the files
and the commit protocol (temp + rename, the manifest as commit point), `writer.py` for the sync
modes and `destination.py` for the life cycle; `read_table` reads a table's committed content.
"""

from typing import TYPE_CHECKING

from destinations.parquet.config import ParquetConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["ParquetConfig", "ParquetDestination", "ParquetStreamWriter", "read_table"]

# The classes bring their runtimes: imported when first used (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "ParquetDestination": "destinations.parquet.destination",
    "read_table": "destinations.parquet.destination",
    "ParquetStreamWriter": "destinations.parquet.writer",
})

if TYPE_CHECKING:  # mypy checks both classes against the Protocols the engine types them as
    from destinations.parquet.destination import ParquetDestination, read_table
    from destinations.parquet.writer import ParquetStreamWriter
    from protocol.types import Destination, StreamWriter

    _destination: type[Destination] = ParquetDestination
    _writer: type[StreamWriter] = ParquetStreamWriter
