"""The `files` source: local CSV, JSON Lines and Parquet files, plain or compressed, one stream per
path pattern, incremental by file. See `source.py` (catalog, incremental state), `formats.py`
(reading and inference) and `config.py`."""

from typing import TYPE_CHECKING

from connectors.files.config import FilesConfig
from connectors.files.source import FilesSource

__all__ = ["FilesConfig", "FilesSource"]

if TYPE_CHECKING:  # mypy checks the class against the Protocol the engine types it as
    from protocol.types import Source

    _source: type[Source] = FilesSource
