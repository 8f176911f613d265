"""The `sql` source's configuration, as users write it under `source.config`.

The URL names the database; the password, a secret, has a field of its own so it is never part of
a string Rooftop prints (a password left inside `url` is still masked in every message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class SqlStreamOptions(BaseModel):
    """Per-stream options, keyed by stream (table) name under `streams`."""

    model_config = ConfigDict(extra="forbid")

    where: str | None = Field(
        default=None,
        description="An SQL condition added to every read of this table, e.g. `property_id IN (1, 2)` "
        "(written in the database's own dialect; it is your database, so it is trusted SQL).")


class SqlConfig(BaseModel):
    """Any database SQLAlchemy can reach: PostgreSQL, SQLite, DuckDB, MySQL (with its driver)."""

    # `schema` is the YAML key; the attribute is `db_schema` (pydantic reserves `schema`).
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(description="SQLAlchemy URL, e.g. `postgresql://reader@db:5432/pms` or "
                                 "`sqlite:///data/pms.db` (relative paths: the workspace root).")
    password: SecretStr | None = Field(default=None, description="The database password (secret).")
    db_schema: str | None = Field(
        default=None, alias="schema",
        description="The schema to read (the catalog's namespace); default: the database's default "
        "schema (`public`, `main`, …).")
    include: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Table/view names to expose as streams (shell patterns, e.g. `lease*`).")
    exclude: list[str] = Field(default_factory=list, description="Names to leave out (patterns).")
    views: bool = Field(default=True, description="Expose views as streams too.")
    batch_size: int = Field(default=50_000, ge=1, le=5_000_000,
                            description="Rows per Arrow batch; a checkpoint follows each batch.")
    read_path: Literal["auto", "adbc", "copy", "sqlalchemy"] = Field(
        default="auto",
        description="How PostgreSQL tables are read: `adbc` (the ADBC driver: binary COPY straight "
        "into Arrow, the fastest), `copy` (psycopg COPY … TO STDOUT csv parsed by Arrow), or "
        "`sqlalchemy` (the general path every other database takes). `auto` = adbc for PostgreSQL.")
    streams: dict[str, SqlStreamOptions] = Field(
        default_factory=dict, description="Per-table options (`where`), keyed by stream name.")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            # Never echo the value: it may hold a password.
            raise ValueError("is not a valid SQLAlchemy URL (dialect+driver://user@host/db)") from None
        return value

    def sqlalchemy_url(self, root: Path) -> URL:
        url = make_url(self.url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3: the driver Rooftop ships
        if url.drivername.startswith(("sqlite", "duckdb")) and url.database not in (None, "", ":memory:"):
            path = Path(url.database)
            if not path.is_absolute():
                url = url.set(database=str(root / path))
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url
