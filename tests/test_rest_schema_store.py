"""The schemas rest_api infers live in the warehouse, so any machine can run any connection (issue 14 item 4).

Two "machines": two workspace folders with the same connection file, one shared warehouse (a DuckDB
file, a Parquet folder, a Postgres database), and the same API on 127.0.0.1 counting requests.
Machine A's sync infers the schema from page 1 and meets a new field on page 3 (widening); machine
B, a separate `rooftop sync` process that never saw A's disk, adds that column without sampling
the API again: its requests are the read's and nothing else. Also: an old `.rooftop/schemas` file is
migrated into the warehouse (whose entry then wins), and a sync stopped by bad input creates no
warehouse while looking for schemas.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from connectors.rest_api import RestApiConfig, RestApiSource
from connectors.rest_api.infer import SchemaCache
from pipelines.engine.runner import run_sync
from protocol.errors import ConfigError
from protocol.schema_store import SchemaEntry, WarehouseSchemaStore, entry_rows, newest_entries
from tests.conftest import connection
from tests.support.http_api import Reply, Request, TestApi

BIN = Path(sys.executable).parent
PAGES = [
    [{"id": 1, "name": "Elm"}],
    [{"id": 2, "name": "Oak"}],
    [{"id": 3, "name": "Ash", "extra": True}],  # appears after discovery sampled page 1
]
CONN = """\
name: shop
source:
  connector: rest_api
  config:
    base_url: "{url}"
    paginator: {{type: page_number}}
    records: $
    streams: [{{name: things, path: /things, primary_key: id}}]
destination: {destination}
streams: [{{name: things, sync_mode: full_refresh_overwrite}}]
"""


def route(request: Request) -> Reply:
    page = int(request.query.get("page", 1))
    return Reply(body=PAGES[page - 1] if page <= len(PAGES) else [])


def machine(folder: Path, url: str, destination: str) -> Path:
    (folder / "connections").mkdir(parents=True)
    (folder / "connections" / "shop.yaml").write_text(CONN.format(url=url, destination=destination))
    return folder


def pages_asked(api: TestApi, since: int) -> Counter[str]:
    return Counter(str(r.query.get("page", 1)) for r in api.requests[since:])


def warehouse(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The shared warehouse as connection YAML, and a function returning the landed things rows."""
    if kind == "duckdb":
        path = tmp_path / "shared" / "wh.duckdb"

        def duck(sql: str) -> list[tuple[Any, ...]]:
            with duckdb.connect(str(path), read_only=True) as db:
                return db.execute(sql).fetchall()
        return f"{{connector: duckdb, config: {{path: {path}}}}}", duck
    if kind == "parquet":
        lake = tmp_path / "shared" / "lake"

        def parquet(sql: str) -> list[tuple[Any, ...]]:
            with duckdb.connect() as db:
                db.register("things", pq.read_table(sorted((lake / "rest_api" / "things").rglob("*.parquet"))))
                db.register("schemas", pq.read_table(sorted((lake / "_rooftop" / "schemas").rglob("*.parquet"))))
                return db.execute(sql.replace("rest_api.things", "things").replace("_rooftop.schemas", "schemas")
                                  ).fetchall()
        return f"{{connector: parquet, config: {{path: {lake}}}}}", parquet
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    request.addfinalizer(engine.dispose)

    def pg(sql: str) -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    return f'{{connector: postgres, config: {{url: "{url}"}}}}', pg


@pytest.mark.parametrize("kind", ["duckdb", "parquet", "postgres"])
def test_a_widening_on_one_machine_reaches_the_next_sync_on_another(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    destination, query = warehouse(kind, tmp_path, request)
    with TestApi(route) as api:
        a = machine(tmp_path / "a", api.url, destination)
        b = machine(tmp_path / "b", api.url, destination)
        run_sync(connection(a, "shop"))
        # Discovery sampled page 1, the read asked pages 1-4 (4: the empty end); `extra` came too late.
        assert pages_asked(api, 0) == {"1": 2, "2": 1, "3": 1, "4": 1}
        assert query("SELECT count(*) FROM rest_api.things") == [(3,)]
        assert query("SELECT stream FROM _rooftop.schemas WHERE connection = 'shop'")[-1] == ("things",)

        seen = len(api.requests)
        done = subprocess.run([str(BIN / "rooftop"), "--workspace", str(b), "sync", "shop"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        # Machine B knew the schema (with `extra`) from the warehouse: no page sampled, the read only.
        assert pages_asked(api, seen) == {"1": 1, "2": 1, "3": 1, "4": 1}
        assert sorted(query("SELECT id, extra FROM rest_api.things")) == [(1, None), (2, None), (3, True)]
    # Neither machine kept anything on its own disk.
    assert not (a / ".rooftop").exists() and not (b / ".rooftop").exists()


def duckdb_workspace(tmp_path: Path, url: str) -> Path:
    return machine(tmp_path / "ws", url, "{connector: duckdb, config: {path: wh.duckdb}}")


def test_an_old_schema_file_is_migrated_and_the_warehouse_wins(tmp_path: Path) -> None:
    with TestApi(route) as api:
        root = duckdb_workspace(tmp_path, api.url)
        # What older versions left behind: the schema in .rooftop/schemas/shop.json, with `extra`.
        config = RestApiConfig.model_validate(connection(root, "shop").config.source.config)
        current = RestApiSource(config, root=root).fingerprint(config.streams[0])
        SchemaCache(root, "shop").save("things", pa.schema([("id", pa.int64()), ("name", pa.string()),
                                                            ("extra", pa.bool_())]), current)
        legacy = root / ".rooftop" / "schemas" / "shop.json"
        assert "extra" in legacy.read_text()

        seen = len(api.requests)
        run_sync(connection(root, "shop"))
        assert pages_asked(api, seen)["1"] == 1  # the file's schema was current: nothing sampled
        db = root / "wh.duckdb"
        with duckdb.connect(str(db), read_only=True) as con:
            assert ("extra",) in con.execute("SELECT column_name FROM information_schema.columns "
                                              "WHERE table_name = 'things'").fetchall()
            saved = con.execute("SELECT stream FROM _rooftop.schemas WHERE connection = 'shop'").fetchall()
        assert saved == [("things",)]  # migrated

        # The warehouse wins over a file that says otherwise, and no longer needs it.
        SchemaCache(root, "shop").save("things", pa.schema([("id", pa.int64()), ("other", pa.string())]), current)
        with connection(root, "shop").make_source() as source:
            assert source.discover().get("things").schema.names == ["id", "name", "extra"]  # type: ignore[union-attr]
        legacy.unlink()
        seen = len(api.requests)
        run_sync(connection(root, "shop"))
        assert pages_asked(api, seen)["1"] == 1


def test_a_sync_stopped_by_bad_input_creates_no_warehouse(tmp_path: Path) -> None:
    with TestApi(route) as api:
        root = duckdb_workspace(tmp_path, api.url)
        with pytest.raises(ConfigError, match="nosuch"):
            run_sync(connection(root, "shop"), streams=["nosuch"])
        assert not (root / "wh.duckdb").exists()
        assert not (root / ".rooftop").exists()


def test_the_newest_save_of_a_stream_wins() -> None:
    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    rows = pa.concat_tables([entry_rows({("shop", "things"): SchemaEntry("things", "new", "f2")}, late),
                             entry_rows({("shop", "things"): SchemaEntry("things", "old", "f1"),
                                         ("shop", "units"): SchemaEntry("units", "u")}, early)])
    found = newest_entries(rows)  # whatever order a destination returns them in
    assert {s: (e.schema, e.fingerprint) for s, e in found.items()} == {"things": ("new", "f2"), "units": ("u", None)}

    # Saves are held until the sync is done, and a load in between already sees them.
    written: list[pa.Table] = []
    store = WarehouseSchemaStore(lambda c: rows, written.append, where="test")
    store.save("shop", [SchemaEntry("things", "newer", "f3")])
    assert store.load("shop")["things"].schema == "newer" and not written
    assert store.flush() == 1 and store.flush() == 0
    assert newest_entries(written[0])["things"].schema == "newer"
