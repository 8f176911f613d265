"""The Postgres destination's configuration, as users write it under `destination.config`.

Kept apart from the destination so `rooftop connectors postgres` can show the spec without a
driver connection. The password is a `SecretStr` (never printed); a password written inside `url`
is masked in every message by the engine's redactor, but `password` is the place for it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from protocol.durations import Duration

DRIVER = "postgresql+psycopg"


class PostgresConfig(BaseModel):
    """Where the warehouse is and how Rooftop may use it."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="A SQLAlchemy/libpq URL, e.g. `postgresql://loader@db.internal:5432/warehouse`. "
        "When set, host/port/database/user are taken from it. Put the password in `password`.",
    )
    host: str = Field(default="127.0.0.1", description="Server host name or address.")
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(default="postgres", description="Database to load into.")
    user: str = Field(default="postgres", description="Role to connect as; needs CREATE on the database.")
    password: SecretStr | None = Field(default=None, description="The role's password (secret).")
    sslmode: str | None = Field(default=None, description="libpq sslmode, e.g. `require`.")
    default_schema: str = Field(
        default="public", description="Where tables land with `namespace: destination`.")
    commit_every_rows: int = Field(
        default=100_000, ge=1,
        description="Commit the data and the latest state checkpoint once this many rows were "
        "written since the last commit, so a crash loses at most this much work.")
    lock_timeout_seconds: Duration = Field(
        default=60.0, ge=0,
        description="Two syncs of one connection never run at once against one warehouse: how long "
        "the second waits for the first before failing with WarehouseLocked (retried).")
    connect_timeout_seconds: int = Field(default=10, ge=1, description="TCP connect timeout.")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError:
            # Never echo the value: it may hold a password.
            raise ValueError("is not a valid database URL (postgresql://user@host:port/database)") from None
        if not url.drivername.startswith("postgres"):
            raise ValueError(f"must be a postgresql:// URL, not {url.drivername}://")
        return value

    def sqlalchemy_url(self) -> URL:
        """The URL to connect with, always through psycopg 3 (COPY needs it)."""
        if self.url is not None:
            url = make_url(self.url).set(drivername=DRIVER)
        else:
            url = URL.create(DRIVER, username=self.user, host=self.host, port=self.port,
                             database=self.database)
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url
