"""`_rooftop.schemas` read before the Postgres destination opens (protocol.schema_store).

Discovery, which needs the schemas a source learnt, runs before planning and so before the
destination is opened (opening creates the `_rooftop` tables; bad input never touches the
warehouse). The entries are read in a READ ONLY transaction on a connection of their own, as
`lookup.py` reads a record; a warehouse without the table holds none. Saves are written by the
open destination (`schema_store()`: `append_bookkeeping`, one COPY of their own).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from destinations.postgres import bookkeeping
from destinations.postgres.config import PostgresConfig
from protocol.bookkeeping import SCHEMAS


def read(config: PostgresConfig, connection: str) -> pa.Table:
    """`connection`'s rows of `_rooftop.schemas`."""
    connect_args: dict[str, Any] = {"options": "-c TimeZone=UTC", "application_name": "rooftop",
                                    "connect_timeout": config.connect_timeout_seconds}
    if config.sslmode:
        connect_args["sslmode"] = config.sslmode
    engine = sa.create_engine(config.sqlalchemy_url(), poolclass=NullPool, connect_args=connect_args,
                              hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            return bookkeeping.read(conn, SCHEMAS, connection)
    finally:
        engine.dispose()
