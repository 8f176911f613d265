"""The `rentvine` source: Rentvine's Manager API read through `rest_api` with a fixed manifest.

`connector` holds the config model, the manifest and the source class; `schema` the streams, their
endpoints and declared fields; `unified` the mapping to `model: unified`. See docs/connectors/rentvine.md.
"""

from connectors.rentvine.connector import RentvineConfig, RentvineSource, manifest

__all__ = ["RentvineConfig", "RentvineSource", "manifest"]
