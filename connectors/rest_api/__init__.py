"""The generic REST source (`rest_api`): a JSON API described entirely in connection YAML.

`config` holds the YAML models, `pages` walks one request series, `cursor` does incremental reads,
`partitions` reads only the selected properties, `infer` and `arrow_types` handle schemas, and
`source` ties them into the Source protocol. Every vendor connector (the built-in `sandbox` first)
is this source with a fixed configuration.
"""

from typing import TYPE_CHECKING

from connectors.rest_api.config import RestApiConfig
from protocol.lazy_exports import lazy_exports

__all__ = ["RestApiConfig", "RestApiSource"]

# The classes bring their runtimes: imported when first used (protocol.lazy_exports).
__getattr__ = lazy_exports(__name__, {
    "RestApiSource": "connectors.rest_api.source",
})

if TYPE_CHECKING:  # mypy checks the class against the Protocol the engine types it as
    from connectors.rest_api.source import RestApiSource
    from protocol.types import Source

    _source: type[Source] = RestApiSource
