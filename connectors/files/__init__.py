"""The `files` source: local CSV, JSON Lines and Parquet files, plain or compressed, one stream per
path pattern, incremental by file. See `source.py` (catalog, incremental state), `formats.py`
(reading and inference), `config.py` (the config model, importing no pyarrow) and `column_types.py`."""

from typing import TYPE_CHECKING

from connectors.files.config import FilesConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["FilesConfig", "FilesSource"]

# The source brings pyarrow: imported when first used, so loading a workspace reads only `config`
# (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {"FilesSource": "connectors.files.source"})

if TYPE_CHECKING:  # mypy checks the class against the Protocol the engine types it as
    from connectors.files.source import FilesSource
    from protocol.types import Source

    _source: type[Source] = FilesSource
