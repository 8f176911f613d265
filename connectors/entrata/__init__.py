"""The `entrata` source: Entrata's RPC-over-POST API read through `rest_api` with a fixed manifest.

`connector` holds the config model, the manifest (envelopes, methods, record paths, windows) and the
source class; `schema` the declared fields of each stream. See docs/connectors/entrata.md.
"""

from connectors.entrata.connector import EntrataConfig, EntrataSource, manifest

__all__ = ["EntrataConfig", "EntrataSource", "manifest"]
