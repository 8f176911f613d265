"""The `rentvine` source: Rentvine's Manager API read through `rest_api` with a fixed manifest.

`config` holds the config model, `connector` the manifest and the source class; `schema` the streams,
their endpoints and declared fields; `unified` the mapping to `model: unified`. See
docs/connectors/rentvine.md.
"""

from typing import TYPE_CHECKING

from connectors.rentvine.config import RentvineConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["RentvineConfig", "RentvineSource", "manifest"]

# The source brings the rest_api runtime (httpx, pyarrow): imported when first used, so loading a
# workspace reads only `config` (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "RentvineSource": "connectors.rentvine.connector",
    "manifest": "connectors.rentvine.connector",
})

if TYPE_CHECKING:
    from connectors.rentvine.connector import RentvineSource, manifest
