"""Rooftop's public SDK for connector authors: everything a source plugin needs, from one import.

    from connectors.sdk import Catalog, CatalogStream, ReadRequest, StateCheckpoint, client_for, records_to_batch

A plugin that imports only these names keeps working when Rooftop's internals move: they are the
stable surface (docs/adding-a-connector.md). Each name is re-exported from the module where it
lives, never copied, so the SDK cannot drift from what the engine and the built-in connectors use.
The test kit for a plugin's own tests (a replay server on 127.0.0.1, `check_source`) is
`connectors.sdk.testing`, kept apart so production code never imports test helpers.

The names, by group:

- the Source protocol: `Source`, `SourceContext`, `Catalog`, `CatalogStream`, `PropertyScope`,
  `SyncMode`, `ReadRequest`, `SourceItem`, `StateCheckpoint`;
- errors (the class decides whether the sync is retried): `RooftopError`, `ConfigError`,
  `AuthError`, `TransientError`, `SourceUnavailable`;
- HTTP: `client_for`, `HttpClient`, `RetryConfig`, `Throttle`, `Authenticator`, `HeaderAuth`,
  `HeadersAuth`, `QueryAuth`, `bearer_auth`;
- records: `records_to_batch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.http.retry import RetryConfig
from protocol.errors import AuthError, ConfigError, RooftopError, SourceUnavailable, TransientError
from protocol.lazy_exports import lazy_exports
from protocol.types import (
    Catalog,
    CatalogStream,
    PropertyScope,
    ReadRequest,
    Source,
    SourceContext,
    StateCheckpoint,
    SyncMode,
)

# The runtime names (and SourceItem) bring httpx and pyarrow: imported when first used, so a plugin's config module
# can import RetryConfig from here and stay light (`rooftop validate --offline`, docs/adding-a-connector.md).
__getattr__ = lazy_exports(__name__, {
    "records_to_batch": "connectors.arrow",
    "HeaderAuth": "connectors.http.auth",
    "HeadersAuth": "connectors.http.auth",
    "QueryAuth": "connectors.http.auth",
    "Authenticator": "connectors.http.authenticator",
    "HttpClient": "connectors.http.client",
    "Throttle": "connectors.http.throttle",
    "bearer_auth": "connectors.sdk.http",
    "client_for": "connectors.sdk.http",
    "SourceItem": "protocol.types",  # an alias over pyarrow's RecordBatch, built on first use
})

if TYPE_CHECKING:
    from connectors.arrow import records_to_batch
    from connectors.http.auth import HeaderAuth, HeadersAuth, QueryAuth
    from connectors.http.authenticator import Authenticator
    from connectors.http.client import HttpClient
    from connectors.http.throttle import Throttle
    from connectors.sdk.http import bearer_auth, client_for
    from protocol.types import SourceItem

__all__ = [
    # the Source protocol and what it exchanges with the engine
    "Source",
    "SourceContext",
    "Catalog",
    "CatalogStream",
    "PropertyScope",
    "SyncMode",
    "ReadRequest",
    "SourceItem",
    "StateCheckpoint",
    # errors
    "RooftopError",
    "ConfigError",
    "AuthError",
    "TransientError",
    "SourceUnavailable",
    # HTTP
    "client_for",
    "HttpClient",
    "RetryConfig",
    "Throttle",
    "Authenticator",
    "HeaderAuth",
    "HeadersAuth",
    "QueryAuth",
    "bearer_auth",
    # records
    "records_to_batch",
]
