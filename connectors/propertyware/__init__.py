"""The `propertyware` connector: Propertyware's REST API as a fixed `rest_api` manifest.

`schema` lists the streams and their declared fields (from the vendor's OpenAPI spec); `config`
holds the config model (no runtime imported); `connector` the manifest and the source class.
"""
