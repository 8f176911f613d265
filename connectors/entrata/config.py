"""The `entrata` source's `source.config`: the organisation's API root, the API key, paging and the leads windows.

A module of its own, registered under `rooftop.source_configs`, so that loading a workspace validates
the connection without importing `connector.py` and the rest_api runtime (see connectors/sandbox/config.py).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.http.models import BaseUrl
from connectors.http.retry import RetryConfig
from protocol.durations import Duration


class EntrataConfig(BaseModel):
    """`source.config` of a connection using the `entrata` connector."""

    model_config = ConfigDict(extra="forbid")

    base_url: BaseUrl = Field(description="The organisation's API root, "
                                      "https://apis.entrata.com/ext/orgs/<your Entrata subdomain>/v1.")
    api_key: SecretStr = Field(min_length=1, description="The API key Entrata issued, sent in the X-Api-Key header.")
    page_size: int = Field(500, ge=5, le=1000, description="Records per page of the paged methods "
                                                          "(getLeases, getLeads): per_page, 5 to 1000.")
    start_date: date = Field(date(2020, 1, 1), description="First day the leads windows read on the first sync "
                                                           "(a stream's start_date in the connection wins).")
    window_days: int = Field(30, ge=1, le=366, description="Days per leads fromDate/toDate window.")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")
