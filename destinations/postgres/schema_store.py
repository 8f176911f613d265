"""`_rooftop.schemas` read before the Postgres destination opens (protocol.schema_store).

Discovery, which needs the schemas a source learnt, runs before planning and so before the
destination is opened (opening creates the `_rooftop` tables; bad input never touches the
warehouse). The entries are read in a READ ONLY transaction on a connection of their own, as
`lookup.py` reads a record; a warehouse without the table holds none. Saves are written by the
open destination (`schema_store()`: `append_bookkeeping`, one COPY of their own).
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from destinations.postgres import bookkeeping
from destinations.postgres.config import PostgresConfig
from destinations.postgres.engine import open_engine
from protocol.bookkeeping import SCHEMAS


def read(config: PostgresConfig, connection: str) -> pa.Table:
    """`connection`'s rows of `_rooftop.schemas`."""
    engine = open_engine(config)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            return bookkeeping.read(conn, SCHEMAS, connection)
    finally:
        engine.dispose()
