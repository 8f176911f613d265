"""The generic REST source (`rest_api`): a JSON API described entirely in connection YAML.

`config` holds the YAML models, `pages` walks one request series, `cursor` does incremental reads,
`partitions` reads only the selected properties, `infer` and `arrow_types` handle schemas, and
`source` ties them into the Source protocol. Every vendor connector (the built-in `sandbox` first)
is this source with a fixed configuration.
"""

from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource

__all__ = ["RestApiConfig", "RestApiSource"]
