"""The `rent_manager` source's `source.config`: the customer's API root, the login and the data's time zone.

A module of its own, registered under `rooftop.source_configs`, so that loading a workspace validates
the connection without importing `connector.py` and the rest_api runtime (see connectors/sandbox/config.py).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.http.retry import RetryConfig
from protocol.durations import Duration


class RentManagerConfig(BaseModel):
    """`source.config` of a connection using the `rent_manager` connector."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="The customer's API root, https://<company>.api.rentmanager.com "
                                                   "(or give company_code).")
    company_code: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$", description=(
        "The customer's Rent Manager company code: base_url becomes https://<company_code>.api.rentmanager.com."))
    username: str = Field(min_length=1, description="Rent Manager user with the API Access flag.")
    password: SecretStr = Field(min_length=1, description="That user's password (posted to the login only).")
    location_id: int = Field(1, ge=1, description="LocationID sent with the login (the Rent Manager location).")
    timezone: str | None = Field(None, description="IANA zone of the database's naive timestamps, e.g. "
                                                   "America/New_York; omit to read them as UTC.")
    page_size: int = Field(1000, ge=1, le=5000, description="Records per request (pagesize).")
    lookback: Duration = Field(60, ge=0, description="Ask for changes this long before the saved UpdateDate "
                                                     "(the filter is strictly greater-than).")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with https:// (e.g. https://acme.api.rentmanager.com), got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_root(self) -> Self:
        if (self.base_url is None) == (self.company_code is None):
            raise ValueError("give base_url (https://<company>.api.rentmanager.com) or company_code, one of them")
        return self

    @property
    def api_root(self) -> str:
        return self.base_url or f"https://{self.company_code}.api.rentmanager.com"
