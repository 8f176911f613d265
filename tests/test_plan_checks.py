"""Planning refuses what a destination cannot store and cursors a stream cannot have, before any write;
the cross-connection table check finds the same losers whoever asks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.engine.collisions import (
    find_collisions,
    landings,
    offline_landings,
    workspace_problems,
)
from pipelines.engine.plan import plan_streams
from pipelines.workspace.loading import load_workspace
from protocol.errors import ConnectionFileError
from protocol.types import Catalog, CatalogStream
from tests.support.static_source import StaticSource

STATIC = """\
name: {name}
source: {{connector: "tests.support.static_source:StaticSource"}}
destination: {destination}
namespace: {namespace}
prefix: {prefix}
streams:
  - name: events
    sync_mode: full_refresh_overwrite
"""
PG = "{connector: postgres, config: {url: 'postgresql://loader@127.0.0.1:9/wh'}}"


def _write(root: Path, name: str, text: str) -> None:
    (root / "connections").mkdir(parents=True, exist_ok=True)
    (root / "connections" / f"{name}.yaml").write_text(textwrap.dedent(text))


def _plan(root: Path, name: str) -> list:
    conn = load_workspace(root).get(name)
    with conn.make_source() as source:
        catalog = source.discover()
    return plan_streams(conn, catalog, conn.make_destination().default_namespace)


def _static(root: Path, *, name: str = "c", destination: str = PG, namespace: str = "raw", prefix: str = '""') -> None:
    _write(root, name, STATIC.format(name=name, destination=destination, namespace=namespace, prefix=prefix))


def test_a_postgres_prefix_past_63_bytes_is_located_at_the_prefix(tmp_path: Path) -> None:
    _static(tmp_path, prefix="p" * 64)
    with pytest.raises(ConnectionFileError) as caught:
        _plan(tmp_path, "c")
    err = caught.value
    assert (err.file, err.line, err.field) == ("connections/c.yaml", 5, "prefix")
    assert "70 bytes" in str(err) and "63-byte" in str(err) and "stream 'events'" in str(err)


def test_a_prefix_that_fits_alone_points_at_the_stream_that_pushes_it_over(tmp_path: Path) -> None:
    _static(tmp_path, prefix="p" * 58)  # 58 + len("events") = 64 bytes
    with pytest.raises(ConnectionFileError) as caught:
        _plan(tmp_path, "c")
    assert (caught.value.line, caught.value.field) == (7, "streams[0].name")
    assert "(prefix 'pppp" in str(caught.value)
    _static(tmp_path, prefix="p" * 57)  # 63 bytes: fits exactly
    assert [p.table.table for p in _plan(tmp_path, "c")] == ["p" * 57 + "events"]


def test_a_long_namespace_is_refused_for_postgres_and_parquet_not_duckdb(tmp_path: Path) -> None:
    _static(tmp_path, namespace="n" * 64)
    with pytest.raises(ConnectionFileError) as caught:
        _plan(tmp_path, "c")
    assert (caught.value.line, caught.value.field) == (4, "namespace")
    _static(tmp_path, namespace="n" * 64, destination="{connector: duckdb, config: {path: wh.duckdb}}")
    assert _plan(tmp_path, "c")[0].table.namespace == "n" * 64
    _static(tmp_path, namespace="n" * 200, destination="{connector: parquet, config: {path: lake}}")
    assert _plan(tmp_path, "c")
    _static(tmp_path, namespace="n" * 256, destination="{connector: parquet, config: {path: lake}}")
    with pytest.raises(ConnectionFileError, match="256 bytes as a directory name"):
        _plan(tmp_path, "c")


class NoCursorSource(StaticSource):
    """A catalog whose default cursor is not in its schema (a connector bug, or a schema inferred
    from records that lack the field)."""

    def discover(self) -> Catalog:
        schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
        return Catalog(namespace="nc", streams=(CatalogStream("rentals", schema, ("id",), default_cursor="updated"),))


NO_CURSOR = """\
name: nc
source: {connector: "tests.test_plan_checks:NoCursorSource"}
destination: {connector: duckdb, config: {path: wh.duckdb}}
streams:
  - name: rentals
    sync_mode: incremental_append
"""


def test_a_default_cursor_missing_from_the_schema_is_a_config_error(tmp_path: Path) -> None:
    _write(tmp_path, "nc", NO_CURSOR)
    with pytest.raises(ConnectionFileError) as caught:
        _plan(tmp_path, "nc")
    err = caught.value
    assert (err.line, err.field) == (6, "streams[0].sync_mode")
    assert "default cursor field 'updated'" in str(err) and "not a field of the stream" in str(err)
    # Its default sync mode (deduped: key and cursor) is refused at the stream's name.
    _write(tmp_path, "nc", NO_CURSOR.replace("    sync_mode: incremental_append\n", ""))
    with pytest.raises(ConnectionFileError) as caught:
        _plan(tmp_path, "nc")
    assert (caught.value.line, caught.value.field) == (5, "streams[0].name")
    # Full refresh needs no cursor: the same stream plans.
    _write(tmp_path, "nc", NO_CURSOR.replace("incremental_append", "full_refresh_overwrite"))
    assert _plan(tmp_path, "nc")[0].cursor_field is None


def test_collisions_first_file_owns_a_table_and_only_a_shared_warehouse_blocks_syncs(tmp_path: Path) -> None:
    duck = "{connector: duckdb, config: {path: wh.duckdb}}"
    _static(tmp_path, name="a", destination=duck)
    _static(tmp_path, name="b", destination=duck.replace("wh.duckdb", "./wh.duckdb"))  # the same file
    _static(tmp_path, name="c", destination=duck.replace("wh.duckdb", "other.duckdb"))
    _static(tmp_path, name="d", destination=duck, namespace="elsewhere")
    ws = load_workspace(tmp_path)
    conns = list(ws.connections.values())
    # Offline (streams listed, a fixed namespace) and planned landings are the same.
    assert [(x.namespace, x.table) for x in offline_landings(conns[0]) or []] == \
        [(x.namespace, x.table) for x in landings(conns[0], _plan(tmp_path, "a"))] == [("raw", "events")]
    lost = find_collisions(offline_landings(c) or [] for c in conns)
    assert set(lost) == {"b", "c"}
    assert lost["b"].same_warehouse and not lost["c"].same_warehouse
    text = str(lost["b"].error)
    assert text.startswith("connections/b.yaml:7: streams[0].name: table raw.events is already synced by "
                           "connection 'a' (connections/a.yaml:7) into the same warehouse")
    assert "another warehouse" in str(lost["c"].error)
    assert [str(e) for e in workspace_problems(conns, offline=True)] == [str(lost["b"].error), str(lost["c"].error)]
    assert workspace_problems(conns, offline=True, names=["a", "d"]) == []


def test_a_memory_warehouse_is_never_shared(tmp_path: Path) -> None:
    mem = "{connector: duckdb, config: {path: ':memory:'}}"
    _static(tmp_path, name="a", destination=mem)
    _static(tmp_path, name="b", destination=mem)
    lost = find_collisions(offline_landings(c) or [] for c in load_workspace(tmp_path).connections.values())
    assert not lost["b"].same_warehouse  # still one Dagster asset key, but no shared data
