"""The one way Rooftop opens a SQLAlchemy engine on a Postgres warehouse.

The destination, the record lookup of write-back and the schema-cache read each open their own
connection; they must agree on the session (UTC timestamps, an application name an operator can see
in pg_stat_activity, the configured connect timeout and sslmode) and on never putting bound values
(row data, state) into error messages.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from destinations.postgres.config import PostgresConfig


def open_engine(config: PostgresConfig) -> sa.Engine:
    """An engine without a pool (each caller holds one connection for a short while)."""
    connect_args: dict[str, Any] = {"options": "-c TimeZone=UTC", "application_name": "rooftop",
                                    "connect_timeout": config.connect_timeout_seconds}
    if config.sslmode:
        connect_args["sslmode"] = config.sslmode
    return sa.create_engine(config.sqlalchemy_url(), poolclass=NullPool, connect_args=connect_args,
                            hide_parameters=True)
