"""The `buildium` source: Buildium's Open API read through `rest_api` with a fixed manifest.

`config` holds the config model, `connector` the manifest and the source class, `schema` the declared
fields of each stream. See docs/connectors/buildium.md.
"""

from typing import TYPE_CHECKING

from connectors.buildium.config import BuildiumConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["BuildiumConfig", "BuildiumSource", "manifest"]

# The source brings the rest_api runtime (httpx, pyarrow): imported when first used, so loading a
# workspace reads only `config` (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "BuildiumSource": "connectors.buildium.connector",
    "manifest": "connectors.buildium.connector",
})

if TYPE_CHECKING:
    from connectors.buildium.connector import BuildiumSource, manifest
