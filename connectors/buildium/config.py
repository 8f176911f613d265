"""The `buildium` source's `source.config`: Buildium's API key (two secret headers), page size and lookback.

A module of its own, registered under `rooftop.source_configs`, so that loading a workspace validates
the connection without importing `connector.py` and the rest_api runtime (see connectors/sandbox/config.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.http.models import BaseUrl
from connectors.http.retry import RetryConfig
from protocol.durations import Duration

DEFAULT_BASE_URL = "https://api.buildium.com"
"""The spec's `servers` entry; its paths start with /v1."""
MAX_LIMIT = 1000
"""Buildium's largest `limit`."""


class BuildiumConfig(BaseModel):
    """`source.config` of a connection using the `buildium` connector."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, description="The API key's client ID (header x-buildium-client-id).")
    client_secret: SecretStr = Field(min_length=1, description="The API key's secret (header "
                                                               "x-buildium-client-secret).")
    base_url: BaseUrl = Field(DEFAULT_BASE_URL,
                              description="API root, without /v1 (default: Buildium's production API).")
    page_size: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT, description="Records per request (Buildium's `limit`).")
    lookback: Duration = Field(60, ge=0, description="Ask for changes this long before the previous sync's start "
                                                     "(clock skew between Rooftop and Buildium).")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")
