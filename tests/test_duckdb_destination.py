"""The DuckDB destination against real DuckDB files: sync modes, state, sync log, identifiers,
schema evolution, types, threads, the file lock (a real second process) and crash safety (a real
SIGKILL). No mocks; processes synchronise through their stdout lines, never through sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pydantic import ValidationError

from destinations.duckdb import DuckDBConfig, DuckDBDestination
from destinations.duckdb.connection import connect_waiting_for_lock
from destinations.sql_naming import qualified
from protocol.errors import ConfigError, WarehouseLocked
from protocol.types import META_DELETED_AT, Destination, SyncMode, SyncRecord, TableSpec

ROOT = Path(__file__).resolve().parents[1]
CONN = "test_conn"
SCHEMA = pa.schema([("id", pa.int64()), ("updated", pa.int64()), ("name", pa.string())])


# -- helpers ------------------------------------------------------------------------------------

def make_dest(tmp_path: Path, **config: Any) -> DuckDBDestination:
    return DuckDBDestination(DuckDBConfig(path="wh/warehouse.duckdb", **config), root=tmp_path)


def spec(mode: SyncMode, *, table: str = "items", stream: str = "items", namespace: str = "raw",
         schema: pa.Schema = SCHEMA, pk: tuple[str, ...] = ("id",),
         cursor: str | None = "updated") -> TableSpec:
    return TableSpec(connection=CONN, stream=stream, namespace=namespace, table=table, schema=schema,
                     sync_mode=mode, primary_key=pk, cursor_field=cursor)


def batch(rows: Sequence[tuple[Any, ...]], schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.record_batch([pa.array(list(c), f.type) for c, f in zip(columns, schema, strict=True)],
                           schema=schema)


def sync(dest: DuckDBDestination, table_spec: TableSpec, *batches: Sequence[tuple[Any, ...]],
         state: Mapping[str, Any] | None = None, sync_id: str = "sync") -> int:
    writer = dest.prepare(table_spec, sync_id)
    for rows in batches:
        writer.write(batch(rows, table_spec.schema))
    return writer.finish(state)


def query(dest: DuckDBDestination, sql: str) -> list[tuple[Any, ...]]:
    """Read through a separate read-only connection, as any user of the warehouse would."""
    assert dest._warehouse is None, "close the destination first: it may be committing"
    with duckdb.connect(dest.path, read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def rows_of(dest: DuckDBDestination, table: str = 'raw.items') -> list[tuple[Any, ...]]:
    return sorted(query(dest, f"SELECT id, updated, name FROM {table}"), key=repr)


# -- config and protocol ------------------------------------------------------------------------

def test_config_and_protocol(tmp_path: Path) -> None:
    dest = make_dest(tmp_path, commit_every_rows=7)
    assert isinstance(dest, Destination)
    assert (dest.name, dest.default_namespace, dest.commit_every_rows) == ("duckdb", "main", 7)
    assert dest.path == str(tmp_path / "wh" / "warehouse.duckdb")
    with pytest.raises(ValidationError, match="lock_timout"):
        DuckDBConfig.model_validate({"lock_timout_seconds": 3})
    with pytest.raises(ValidationError):
        DuckDBConfig(lock_timeout_seconds=-1)
    with pytest.raises(ValidationError):
        DuckDBConfig(commit_every_rows=0)


def test_check_creates_the_file_and_settings_apply(tmp_path: Path) -> None:
    dest = make_dest(tmp_path, memory_limit="512MB", threads=2)
    dest.check()
    assert Path(dest.path).exists()
    with dest:
        dest.check()
        with dest._require().reading() as cur:
            assert cur.execute("SELECT current_setting('threads')").fetchone() == (2,)
            assert cur.execute("SELECT current_setting('memory_limit')").fetchone() == ("488.2 MiB",)


# -- sync modes -----------------------------------------------------------------------------------

def test_overwrite_replaces_the_table(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    with dest:
        assert sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE), [(1, 1, "a"), (2, 1, "b")],
                    [(3, 1, "c")]) == 3
        assert sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE), [(4, 2, "d")]) == 1
        assert dest.table_stats("raw", "_rooftop_stage_items") is None
    assert rows_of(dest) == [(4, 2, "d")]


def test_full_refresh_append_accumulates(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    with dest:
        assert sync(dest, spec(SyncMode.FULL_REFRESH_APPEND), [(1, 1, "a"), (2, 1, "b")]) == 2
        assert sync(dest, spec(SyncMode.FULL_REFRESH_APPEND), [(1, 1, "a"), (2, 1, "b")]) == 4
        assert dest.table_stats("raw", "_rooftop_stage_items") is None
    assert rows_of(dest) == sorted([(1, 1, "a"), (2, 1, "b")] * 2, key=repr)


def test_incremental_append_skips_exact_boundary_rereads(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    mode = SyncMode.INCREMENTAL_APPEND
    with dest:
        sync(dest, spec(mode), [(1, 1, "a"), (2, 5, "b")])
        # The next read starts at the saved cursor (5): (2, 5) comes back unchanged and is skipped;
        # a new key at the boundary, a new version, and a cursor-less row are all kept.
        total = sync(dest, spec(mode), [(2, 5, "b"), (3, 5, "c"), (2, 6, "b2")], [(4, None, "n")])
        # A second read of the same rows within the sync: (2, 5) is still stored, so skipped.
        assert total == 5
    assert rows_of(dest) == sorted([(1, 1, "a"), (2, 5, "b"), (3, 5, "c"), (2, 6, "b2"),
                                    (4, None, "n")], key=repr)


@pytest.mark.parametrize(("cursor_type", "values"), [
    (pa.timestamp("us", tz="UTC"), [datetime(2024, 1, d, 9, 0, 0, 1, tzinfo=UTC) for d in (1, 2, 3)]),
    (pa.decimal128(12, 3), [Decimal("1.001"), Decimal("1.002"), Decimal("1.003")]),
    (pa.string(), ["2024-01-01", "2024-01-02", "2024-01-03"]),
    (pa.date32(), [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]),
])
def test_incremental_append_boundary_is_exact_for_any_cursor_type(
        tmp_path: Path, cursor_type: pa.DataType, values: list[Any]) -> None:
    schema = pa.schema([("id", pa.int64()), ("updated", cursor_type), ("name", pa.string())])
    lo, mid, hi = values
    dest = make_dest(tmp_path)
    table_spec = spec(SyncMode.INCREMENTAL_APPEND, schema=schema)
    with dest:
        sync(dest, table_spec, [(1, lo, "a"), (2, mid, "b")])
        assert sync(dest, table_spec, [(2, mid, "b"), (1, lo, "a"), (1, hi, "a2")]) == 3


def test_incremental_append_without_primary_key_keeps_everything(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(SyncMode.INCREMENTAL_APPEND, pk=()), [(1, 5, "a")])
        assert sync(dest, spec(SyncMode.INCREMENTAL_APPEND, pk=()), [(1, 5, "a")]) == 2


def test_incremental_deduped_latest_cursor_wins(tmp_path: Path) -> None:
    schema = SCHEMA.append(pa.field(META_DELETED_AT, pa.timestamp("us", tz="UTC")))
    deleted = datetime(2024, 5, 1, 12, tzinfo=UTC)
    dest = make_dest(tmp_path)
    table_spec = spec(SyncMode.INCREMENTAL_DEDUPED, schema=schema)
    with dest:
        sync(dest, table_spec, [(1, 5, "a", None), (2, 5, "b", None), (3, 5, "c", None)])
        total = sync(
            dest, table_spec,
            [(1, 4, "older", None),          # older than stored: must not win
             (2, 7, "newest", None),         # in-batch duplicates: the greatest cursor wins ...
             (2, 6, "newer", None)],         # ... whatever the order
            [(3, 5, "same cursor", None),    # an equal cursor is a fresher read: replaces
             (4, 1, "new", None),
             (5, 2, "gone", deleted)],       # a source-signalled delete is just stored
        )
        assert total == 5
    got = sorted(query(dest, f"SELECT id, updated, name, {META_DELETED_AT} FROM raw.items"))
    assert got == [(1, 5, "a", None), (2, 7, "newest", None), (3, 5, "same cursor", None),
                   (4, 1, "new", None), (5, 2, "gone", deleted)]


def test_deduped_needs_a_primary_key(tmp_path: Path) -> None:
    with make_dest(tmp_path) as dest, pytest.raises(ConfigError, match="primary key"):
        dest.prepare(spec(SyncMode.INCREMENTAL_DEDUPED, pk=()), "s")


# -- staging, abort, commit -------------------------------------------------------------------------



def build_tables(dest: DuckDBDestination) -> int:
    """full_refresh_overwrite's build tables in the warehouse, seen through the open destination."""
    with dest._require().reading() as cur:
        row = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_rooftop_build_')"
                          ).fetchone()
    return int(row[0]) if row else 0

@pytest.mark.parametrize("mode", [SyncMode.FULL_REFRESH_OVERWRITE, SyncMode.FULL_REFRESH_APPEND])
def test_staging_is_invisible_until_finish_and_abort_keeps_the_old_table(
        tmp_path: Path, mode: SyncMode) -> None:
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(mode), [(1, 1, "old"), (2, 1, "old")])
        writer = dest.prepare(spec(mode), "s2")
        writer.write(batch([(7, 2, "new"), (8, 2, "new"), (9, 2, "new")]))
        writer.commit({"page": 1})
        assert dest.table_stats("raw", "items") == 2
        staged = list(Path(f"{dest.path}.staging").glob("*/*.arrow"))
        if mode is SyncMode.FULL_REFRESH_APPEND:
            assert len(staged) == 1  # staged beside the warehouse, in a file of this destination's own
        else:  # moved into the build table at the commit (flat memory), beside the old one
            assert staged == [] and build_tables(dest) == 1
        writer.write(batch([(10, 2, "new")]))
        writer.abort()
        writer.abort()  # idempotent
        assert dest.table_stats("raw", "items") == 2
        assert build_tables(dest) == 0
    assert rows_of(dest) == [(1, 1, "old"), (2, 1, "old")]
    assert not any(path.exists() for path in staged)


def test_an_overwrite_drops_the_build_table_a_killed_sync_left(tmp_path: Path) -> None:
    """A process killed between an overwrite's commits leaves its build table; the next overwrite
    of that stream removes it and publishes its own rows only."""
    dest = make_dest(tmp_path)
    with dest:
        writer = dest.prepare(spec(SyncMode.FULL_REFRESH_OVERWRITE), "s1")
        writer.write(batch([(1, 1, "killed")]))
        writer.commit(None)
        # The process dies here: no finish, no abort.
        dest._forget(writer)
    with dest:
        assert build_tables(dest) == 1
        assert sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE), [(2, 1, "next")]) == 1
        assert build_tables(dest) == 0
    assert rows_of(dest) == [(2, 1, "next")]


def test_uncommitted_rows_are_rolled_back_by_abort(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    mode = SyncMode.INCREMENTAL_APPEND
    with dest:
        writer = dest.prepare(spec(mode), "s1")
        writer.write(batch([(1, 1, "a")]))
        writer.commit({"cursor": 1})
        writer.write(batch([(2, 2, "b")]))
        assert dest.table_stats("raw", "items") == 1  # other cursors only see committed rows
        writer.abort()
        assert dest.read_state(CONN) == {"items": {"cursor": 1}}
        with pytest.raises(RuntimeError, match="already finished or aborted"):
            writer.write(batch([(3, 3, "c")]))
    assert rows_of(dest) == [(1, 1, "a")]


def test_a_failed_merge_leaves_the_committed_data(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    with dest:
        writer = dest.prepare(spec(SyncMode.INCREMENTAL_APPEND), "s1")
        writer.write(batch([(1, 1, "a")]))
        writer.commit({"cursor": 1})
        writer.write(batch([(3, 2, "c")]))
        # Staged as it came; the merge refuses it, and nothing of that commit lands (nor its state).
        writer.write(pa.record_batch({"id": pa.array([2]), "no_such_column": pa.array([1])}))
        with pytest.raises(duckdb.Error):
            writer.commit({"cursor": 2})
        writer.abort()
        assert dest.table_stats("raw", "items") == 1
        assert dest.read_state(CONN) == {"items": {"cursor": 1}}


# -- state and sync log -------------------------------------------------------------------------------

def test_state_round_trip_latest_wins_and_finish_prunes(tmp_path: Path) -> None:
    dest = make_dest(tmp_path)
    mode = SyncMode.INCREMENTAL_DEDUPED
    with dest:
        assert dest.read_state(CONN) == {}
        writer = dest.prepare(spec(mode), "s1")
        writer.commit({"cursor": "2024-01-01", "nested": {"pages": [1, 2]}})
        writer.write(batch([(1, 1, "a")]))
        writer.commit(None)  # data without a checkpoint keeps the previous state
        assert dest.read_state(CONN) == {"items": {"cursor": "2024-01-01", "nested": {"pages": [1, 2]}}}
        writer.commit({"cursor": "2024-02-01"})
        other = dest.prepare(spec(mode, stream="other", table="other"), "s1")
        other.finish({"cursor": 9})
        assert dest.read_state(CONN) == {"items": {"cursor": "2024-02-01"}, "other": {"cursor": 9}}
        assert writer.finish({"cursor": "2024-03-01"}) == 1
        assert dest.read_state(CONN)["items"] == {"cursor": "2024-03-01"}
        assert dest.read_state("another_connection") == {}
    assert query(dest, "SELECT stream, count(*) FROM _rooftop.state GROUP BY ALL ORDER BY 1") == [
        ("items", 1), ("other", 1)]
    with dest:  # seq keeps increasing across sessions, so the new row wins
        sync(dest, spec(mode), state={"cursor": "2024-04-01"})
        assert dest.read_state(CONN)["items"] == {"cursor": "2024-04-01"}


def test_sync_log_upsert_recent_and_mark_interrupted(tmp_path: Path) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    dest = make_dest(tmp_path)
    with dest:
        dest.record_sync(SyncRecord(CONN, "a", "s1", started_at=t0))
        dest.record_sync(SyncRecord(CONN, "a", "s1", started_at=t0, finished_at=t0 + timedelta(1),
                                    status="succeeded", rows_read=5, rows_written=4,
                                    error_count=1, extra={"cursor": "x", "at": t0}))
        dest.record_sync(SyncRecord(CONN, "a", "s2", started_at=t0 + timedelta(2)))
        dest.record_sync(SyncRecord(CONN, "b", "s2", started_at=t0 + timedelta(2)))
        dest.record_sync(SyncRecord("elsewhere", "a", "s3", started_at=t0 + timedelta(3)))
        recent = dest.recent_syncs(CONN)
        assert [(r.sync_id, r.stream, r.status) for r in recent] == [
            ("s2", "a", "running"), ("s2", "b", "running"), ("s1", "a", "succeeded")]
        done = recent[2]
        assert (done.rows_read, done.rows_written, done.error_count) == (5, 4, 1)
        assert done.finished_at == t0 + timedelta(1)
        assert done.extra == {"cursor": "x", "at": str(t0)}
        assert len(dest.recent_syncs(CONN, limit=1)) == 1
        assert dest.mark_interrupted(CONN) == 2
        assert dest.mark_interrupted(CONN) == 0
        statuses = {(r.sync_id, r.stream): (r.status, r.finished_at is not None)
                    for r in dest.recent_syncs(CONN)}
        assert statuses == {("s2", "a"): ("interrupted", True), ("s2", "b"): ("interrupted", True),
                            ("s1", "a"): ("succeeded", True)}
        assert dest.recent_syncs("elsewhere")[0].status == "running"


# -- identifiers, schema, types -----------------------------------------------------------------------

def test_hostile_identifiers_land_under_their_exact_names(tmp_path: Path) -> None:
    table, namespace = 'x"; drop table y; --', 'ns "quoted" with spaces'
    schema = pa.schema([("id", pa.int64()), ("updated", pa.int64()), ('we"ird col', pa.string())])
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE, table="y", namespace="main"), [(1, 1, "keep")])
        for mode in SyncMode:
            table_spec = spec(mode, table=table, stream=table, namespace=namespace, schema=schema)
            sync(dest, table_spec, [(1, 1, "v")], state={"c": 1})
        assert dest.table_stats(namespace, table) is not None
        assert dest.read_state(CONN) == {table: {"c": 1}}
    assert query(dest, "SELECT schema_name, table_name FROM duckdb_tables() "
                       "WHERE schema_name <> '_rooftop' ORDER BY 1") == [
        ("main", "y"), (namespace, table)]
    assert query(dest, 'SELECT count(*) FROM main.y') == [(1,)]
    assert [c[0] for c in query(dest, f"DESCRIBE {qualified(namespace, table)}")] == schema.names


def test_new_spec_columns_are_added_and_old_ones_kept(tmp_path: Path) -> None:
    v1 = pa.schema([("id", pa.int64()), ("updated", pa.int64()), ("legacy", pa.string())])
    v2 = pa.schema([("updated", pa.int64()), ("ID", pa.int64()), ("fresh", pa.decimal128(10, 2))])
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(SyncMode.INCREMENTAL_APPEND, schema=v1), [(1, 1, "old")])
        # Column order differs and `ID` differs from `id` only by case (the same DuckDB column).
        sync(dest, spec(SyncMode.INCREMENTAL_APPEND, schema=v2, pk=("ID",)),
             [(2, 2, Decimal("9.50"))])
    assert [(c[0], c[1]) for c in query(dest, "DESCRIBE raw.items")] == [
        ("id", "BIGINT"), ("updated", "BIGINT"), ("legacy", "VARCHAR"), ("fresh", "DECIMAL(10,2)")]
    assert query(dest, "SELECT * FROM raw.items ORDER BY id") == [
        (1, 1, "old", None), (2, 2, None, Decimal("9.50"))]


def test_types_round_trip(tmp_path: Path) -> None:
    schema = pa.schema([
        ("id", pa.int64()),
        ("rent", pa.decimal128(12, 2)),
        ("updated", pa.timestamp("us", tz="UTC")),
        ("start_date", pa.date32()),
        ("address", pa.struct([("street", pa.string()), ("zip", pa.int32())])),
        ("tags", pa.list_(pa.string())),
        ("_rooftop_meta", pa.string()),  # JSON text: stays VARCHAR
        ("flag", pa.bool_()),
        ("score", pa.float64()),
        ("never_set", pa.null()),
    ])
    values = [
        (1, Decimal("1234.56"), datetime(2024, 3, 1, 8, 30, 0, 123456, tzinfo=UTC), date(2024, 3, 1),
         {"street": "1 Main", "zip": 60601}, ["a", "b"], '{"errors": {"rent": "x"}}', True, 0.5, None),
        (2, None, None, None, None, [], None, None, None, None),
    ]
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE, schema=schema, cursor=None),
             values, state=None)
        sync(dest, spec(SyncMode.INCREMENTAL_DEDUPED, table="inc", schema=schema), values)
    for table in ("raw.items", "raw.inc"):
        assert [(c[0], c[1]) for c in query(dest, f"DESCRIBE {table}")] == [
            ("id", "BIGINT"), ("rent", "DECIMAL(12,2)"), ("updated", "TIMESTAMP WITH TIME ZONE"),
            ("start_date", "DATE"), ("address", "STRUCT(street VARCHAR, zip INTEGER)"),
            ("tags", "VARCHAR[]"), ("_rooftop_meta", "VARCHAR"), ("flag", "BOOLEAN"),
            ("score", "DOUBLE"), ("never_set", "VARCHAR")]
        assert query(dest, f"SELECT * FROM {table} ORDER BY id") == values


# -- threads ------------------------------------------------------------------------------------------

def test_two_writers_commit_concurrently_from_two_threads(tmp_path: Path) -> None:
    """Streams of one sync run in parallel: DDL, writes, commits and finishes interleave."""
    rounds = 5
    barrier = threading.Barrier(2)
    dest = make_dest(tmp_path)

    def run(table_spec: TableSpec, base: int) -> int:
        barrier.wait()
        writer = dest.prepare(table_spec, "s1")
        for i in range(rounds):
            writer.write(batch([(base + i, i, f"r{i}")]))
            barrier.wait()          # both transactions are open with uncommitted rows here
            writer.commit({"cursor": i})
            barrier.wait()
        return writer.finish({"cursor": rounds})

    specs = [spec(SyncMode.INCREMENTAL_DEDUPED, stream="leases", table="leases"),
             spec(SyncMode.FULL_REFRESH_OVERWRITE, stream="units", table="units")]
    with dest:
        sync(dest, specs[1], [(99, 0, "old")])
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(run, s, base) for s, base in zip(specs, (0, 100), strict=True)]
            assert [f.result(timeout=60) for f in futures] == [rounds, rounds]
        assert dest.read_state(CONN) == {"leases": {"cursor": rounds}, "units": {"cursor": rounds}}
    assert query(dest, "SELECT min(id), max(id), count(*) FROM raw.leases") == [(0, 4, 5)]
    assert query(dest, "SELECT min(id), max(id), count(*) FROM raw.units") == [(100, 104, 5)]


def test_swap_and_ddl_while_another_transaction_is_open(tmp_path: Path) -> None:
    """One writer's open transaction must not block or be broken by another's catalog changes."""
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(SyncMode.FULL_REFRESH_OVERWRITE, stream="units", table="units"), [(1, 1, "old")])
        sync(dest, spec(SyncMode.INCREMENTAL_APPEND, stream="b", table="b"), [(1, 1, "x")])
        leases = dest.prepare(spec(SyncMode.INCREMENTAL_DEDUPED, stream="leases", table="leases"), "s")
        units = dest.prepare(spec(SyncMode.FULL_REFRESH_OVERWRITE, stream="units", table="units"), "s")
        leases.write(batch([(1, 1, "a")]))            # leases' transaction is open ...
        units.write(batch([(2, 2, "new")]))
        assert units.finish({"c": 2}) == 1            # ... while units swaps its table
        wider = SCHEMA.append(pa.field("extra", pa.string()))
        grown = dest.prepare(spec(SyncMode.INCREMENTAL_APPEND, stream="b", table="b", schema=wider), "s")
        fresh = dest.prepare(spec(SyncMode.INCREMENTAL_APPEND, stream="c", table="c"), "s")
        leases.write(batch([(2, 2, "b")]))
        assert leases.finish({"c": 1}) == 2
        assert (grown.finish(None), fresh.finish(None)) == (1, 0)
    assert rows_of(dest, "raw.units") == [(2, 2, "new")]
    assert rows_of(dest, "raw.leases") == [(1, 1, "a"), (2, 2, "b")]


def test_two_syncs_of_one_connection_do_not_overlap_but_other_connections_do(tmp_path: Path) -> None:
    """The file lock is held only while committing, so a per-connection lock keeps a second sync of
    the same connection out (from `mark_interrupted` to exit), as Postgres and Parquet do."""
    first, second, other = make_dest(tmp_path), make_dest(tmp_path, lock_timeout_seconds=0.2), make_dest(tmp_path)
    with first:
        first.mark_interrupted(CONN)
        with second, pytest.raises(WarehouseLocked, match=f"another sync of '{CONN}'"):
            second.mark_interrupted(CONN)
        with other:
            assert other.mark_interrupted("another_conn") == 0
            assert sync(other, spec(SyncMode.FULL_REFRESH_OVERWRITE), [(1, 1, "x")]) == 1  # while `first` is open
    with second:  # released when the holder closed
        assert second.mark_interrupted(CONN) == 0


# -- the file lock (a real second process) ------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()   # hold the lock until the parent closes our stdin
""")


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    path = tmp_path / "wh" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=30)


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_locked_file_raises_warehouse_locked_then_opens_after_release(
        tmp_path: Path, lock_holder: subprocess.Popen[str]) -> None:
    dest = make_dest(tmp_path, lock_timeout_seconds=0.5)
    with pytest.raises(WarehouseLocked) as info, dest:
        pass
    message = str(info.value)
    assert dest.path in message and f"process {lock_holder.pid}" in message and "waiting" in message
    release(lock_holder)
    with dest:
        assert dest.read_state(CONN) == {}


def test_lock_wait_succeeds_when_the_holder_lets_go(
        tmp_path: Path, lock_holder: subprocess.Popen[str]) -> None:
    path = str(tmp_path / "wh" / "warehouse.duckdb")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # Instead of sleeping, make the holder exit: the next attempt must then get the lock.
        waits.append(seconds)
        if len(waits) == 2:
            release(lock_holder)

    con = connect_waiting_for_lock(path, timeout_seconds=300, sleep=sleep)
    con.close()
    assert waits == [0.02, 0.04]


# -- crash safety (a real SIGKILL) --------------------------------------------------------------------

CRASHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    import pyarrow as pa
    from destinations.duckdb import DuckDBConfig, DuckDBDestination
    from protocol.types import SyncMode, TableSpec

    path, mode = sys.argv[1], SyncMode(sys.argv[2])
    schema = pa.schema([("id", pa.int64()), ("updated", pa.int64()), ("name", pa.string())])
    def rows(ids):
        return pa.record_batch([pa.array(ids), pa.array([7] * len(ids)),
                                pa.array(["crash"] * len(ids))], schema=schema)
    dest = DuckDBDestination(DuckDBConfig(path=path), root=Path("/")).__enter__()
    writer = dest.prepare(TableSpec("test_conn", "items", "raw", "items", schema, mode, ("id",),
                                    "updated"), "crash-sync")
    writer.write(rows(list(range(100, 105))))
    writer.commit({"cursor": 7})
    print("committed", flush=True)
    writer.write(rows(list(range(200, 300))))
    print("written", flush=True)
    sys.stdin.read()   # SIGKILLed here, with uncommitted rows in the open transaction
""")


@pytest.mark.slow
@pytest.mark.parametrize("mode", [SyncMode.INCREMENTAL_APPEND, SyncMode.FULL_REFRESH_OVERWRITE])
def test_sigkill_leaves_exactly_the_last_checkpoint(tmp_path: Path, mode: SyncMode) -> None:
    dest = make_dest(tmp_path)
    with dest:
        sync(dest, spec(mode), [(1, 1, "before")], state={"cursor": 1})
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, dest.path, mode.value], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline().strip() for _ in range(2)] == ["committed", "written"]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with dest:  # the WAL replays the committed transaction only
        state = dest.read_state(CONN)
        stats = dest.table_stats("raw", "items")
    # Overwrite: the staged checkpoint (and its state row) committed, but the swap never ran.
    expected = [(1, 1, "before")]
    if mode is SyncMode.INCREMENTAL_APPEND:
        expected += [(i, 7, "crash") for i in range(100, 105)]
    assert state == {"items": {"cursor": 7}}
    assert stats == len(expected)
    assert rows_of(dest) == sorted(expected, key=repr)
