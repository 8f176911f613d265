"""Schema-change rules: the type lattice on its own, and a live database whose tables change
between syncs (ALTER TABLE on a real PostgreSQL source, loaded into a real PostgreSQL warehouse)."""

from __future__ import annotations

import textwrap
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from pipelines.engine.runner import run_sync
from pipelines.engine.schema_changes import SchemaChangeError, holds, supertype
from tests.conftest import WorkspaceFactory, connection
from tests.postgres_server import PostgresServer

TS = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(("table", "source", "expected"), [
    (pa.int32(), pa.int64(), pa.int64()),
    (pa.int16(), pa.uint16(), pa.int32()),
    (pa.int64(), pa.float64(), pa.float64()),
    (pa.int64(), pa.decimal128(12, 2), pa.float64()),
    (pa.decimal128(12, 2), pa.decimal128(10, 4), pa.decimal128(14, 4)),
    (pa.float64(), pa.string(), pa.string()),
    (pa.int32(), pa.string(), pa.string()),
    (pa.date32(), TS, TS),
    (pa.int64(), TS, None),          # incompatible: values nulled and recorded instead
    (pa.bool_(), pa.int32(), None),
    (pa.struct([("a", pa.int64())]), pa.string(), None),
])
def test_supertype_widens_along_the_chain(table: pa.DataType, source: pa.DataType,
                                          expected: pa.DataType | None) -> None:
    assert not holds(table, source)
    assert supertype(table, source) == expected


@pytest.mark.parametrize(("table", "source"), [
    (pa.int64(), pa.int32()), (pa.float64(), pa.int64()), (pa.string(), pa.int64()),
    (pa.string(), pa.struct([("a", pa.int64())])), (pa.decimal128(12, 2), pa.int16()),
    (TS, pa.timestamp("ns", tz="America/Chicago")), (TS, pa.date32()), (pa.int64(), pa.null()),
    (pa.list_(pa.field("l", pa.int64())), pa.list_(pa.int64())), (pa.string(), pa.large_string()),
])
def test_a_column_that_holds_the_source_type_is_left_alone(table: pa.DataType, source: pa.DataType) -> None:
    assert holds(table, source)


def _pg(server: PostgresServer, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server.dsn(database), autocommit=True)


def test_live_postgres_table_changes_reach_a_postgres_warehouse(
        postgres_server: PostgresServer, postgres_url: str, make_workspace: WorkspaceFactory) -> None:
    source_db = postgres_server.create_database()
    source_url = postgres_server.url(source_db)
    with _pg(postgres_server, source_db) as conn:
        conn.execute("CREATE TABLE units (id int PRIMARY KEY, beds smallint, label text, updated_at timestamptz)")
        conn.execute("INSERT INTO units SELECT g, 2, 'u' || g, '2024-01-01Z'::timestamptz + g * interval '1 hour' "
                     "FROM generate_series(1, 20) g")
    def yaml(policy: str) -> str:
        return f"""\
            name: live
            source: {{connector: sql, config: {{url: "{source_url}"}}}}
            destination: {{connector: postgres, config: {{url: "{postgres_url}"}}}}
            schema_changes: {policy}
            streams: [{{name: units, sync_mode: incremental_deduped, cursor_field: updated_at}}]
        """

    root = make_workspace(yaml("propagate"), name="live")
    run_sync(connection(root, "live"))
    with _pg(postgres_server, source_db) as conn:
        conn.execute("ALTER TABLE units ALTER COLUMN beds TYPE numeric(5,1), ADD COLUMN pets boolean, "
                     "DROP COLUMN label")
        conn.execute("UPDATE units SET beds = 2.5, pets = true, updated_at = '2030-01-01Z' WHERE id = 1")
    run_sync(connection(root, "live"))
    warehouse = make_url(postgres_url).database
    with _pg(postgres_server, warehouse or "") as conn:
        types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'units'").fetchall())
        got = conn.execute("SELECT beds, pets, label FROM public.units WHERE id IN (1, 2) ORDER BY id").fetchall()
    assert types["beds"] == "double precision" and types["pets"] == "boolean" and types["label"] == "text"
    assert got == [(2.5, True, None), (2.0, None, "u2")]

    # The same kind of change under `fail`: nothing is written, every change is named.
    (root / "connections" / "live.yaml").write_text(
        textwrap.dedent(yaml("fail")))
    with _pg(postgres_server, source_db) as conn:
        conn.execute("ALTER TABLE units ADD COLUMN floor int, ALTER COLUMN pets TYPE text")
        conn.execute("UPDATE units SET floor = 3, updated_at = '2031-01-01Z' WHERE id = 2")
    with pytest.raises(SchemaChangeError) as info:
        run_sync(connection(root, "live"))
    assert {(c.column, c.kind) for c in info.value.changes} == {
        ("floor", "new column"), ("pets", "widened"), ("label", "removed column")}
    with _pg(postgres_server, warehouse or "") as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'units' "
                            "AND column_name = 'floor'").fetchone() == (0,)
