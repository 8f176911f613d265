"""The `buildium` source: Buildium's Open API read through `rest_api` with a fixed manifest."""

from connectors.buildium.connector import BuildiumConfig, BuildiumSource, manifest

__all__ = ["BuildiumConfig", "BuildiumSource", "manifest"]
