"""Does a landed table hold a record? One query in a READ ONLY transaction on a connection of its own.

Write-back asks it of every candidate connection when a caller gives a bare vendor id
(`PUT /v1/residents/3`). It neither needs the destination opened (which creates the `_rooftop`
tables) nor takes any lock a sync holds: a plain read.
"""

from __future__ import annotations

import sqlalchemy as sa

from destinations.json_paths import json_holds, like_pattern
from destinations.postgres.config import PostgresConfig
from destinations.postgres.engine import open_engine
from destinations.sql_naming import qualified, quote_ident
from protocol.errors import TransientError


def record_exists(config: PostgresConfig, namespace: str, table: str, column: str, value: str,
                  json_path: tuple[str, ...] = ()) -> bool:
    """Whether a row of `namespace.table` has `column` (compared as text) equal to `value`, or with
    `json_path`, holds `value` at that path of the JSON in `column` (destinations.json_paths)."""
    engine = open_engine(config)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            present = conn.execute(sa.text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND table_name = :t "
                "AND column_name = :c"), {"s": namespace, "t": table, "c": column}).first()
            if present is None:
                return False  # no such table or column: no record of it here
            text = f"CAST({quote_ident(column)} AS text)"
            if json_path:
                documents = conn.execute(sa.text(f"SELECT {text} FROM {qualified(namespace, table)} "
                                                 f"WHERE {text} LIKE :p"), {"p": like_pattern(value)})
                return any(json_holds(document, json_path, value) for (document,) in documents)
            found = conn.execute(sa.text(f"SELECT 1 FROM {qualified(namespace, table)} WHERE {text} = :v LIMIT 1"),
                                 {"v": value})
            return found.first() is not None
    except sa.exc.OperationalError as exc:
        where = f"{engine.url.host}:{engine.url.port}/{engine.url.database}"
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise TransientError(f"cannot look a record up in Postgres at {where}: {reason}") from None
    finally:
        engine.dispose()
