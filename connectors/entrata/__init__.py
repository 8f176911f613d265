"""The `entrata` source: Entrata's RPC-over-POST API read through `rest_api` with a fixed manifest.

`config` holds the config model, `connector` the manifest (envelopes, methods, record paths, windows)
and the source class; `schema` the declared fields of each stream. See docs/connectors/entrata.md.
"""

from typing import TYPE_CHECKING

from connectors.entrata.config import EntrataConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["EntrataConfig", "EntrataSource", "manifest"]

# The source brings the rest_api runtime (httpx, pyarrow): imported when first used, so loading a
# workspace reads only `config` (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "EntrataSource": "connectors.entrata.connector",
    "manifest": "connectors.entrata.connector",
})

if TYPE_CHECKING:
    from connectors.entrata.connector import EntrataSource, manifest
