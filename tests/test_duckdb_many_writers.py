"""One DuckDB file, many writers and readers (issue 14 item 2), with real `rooftop sync` processes.

A sync stages its rows beside the warehouse and holds the file's write lock only while it commits
(destinations/duckdb/writer.py), so:
- ten syncs into one file at once, each longer than `lock_timeout_seconds`, all succeed;
- a reader opening the file read-only every 2 s during a long sync gets its answers, waiting at
  most for one commit;
- an analyst holding a read-only connection does not stop a sync from staging: it waits at its
  commit, and goes on when the analyst lets go;
- a killed sync leaves its staging behind, and the next sync removes it.
The sandbox's `slow_ms` makes every sync take longer than the lock timeout (each page is delayed);
processes are followed through their JSON log events, never through sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.faults import FaultConfig
from connectors.sandbox.server import SandboxServer
from tests.conftest import API_KEY

pytestmark = pytest.mark.slow

COUNTS = {"units": 240, "leases": 240, "work_orders": 240}
CONNECTION = """\
name: {name}
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: {page_size}}}
destination: {{connector: duckdb, config: {{path: shared.duckdb, lock_timeout_seconds: {lock}, commit_every_rows: 60}}}}
namespace: {name}
max_concurrency: 3
streams:
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_append}}
"""


@dataclass
class SyncProcess:
    """A `rooftop sync` child; a thread files its JSON log events into `events`."""

    proc: subprocess.Popen[str]
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(self, deadline: float, **want: object) -> dict[str, Any]:
        for event in self.seen:
            if all(event.get(k) == v for k, v in want.items()):
                return event
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no event {want} before the deadline; exit {self.proc.poll()}") from None
            self.seen.append(event)
            if all(event.get(k) == v for k, v in want.items()):
                return event

    def finish(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)


def start_sync(root: Path, name: str) -> SyncProcess:
    cmd = [sys.executable, "-m", "pipelines.cli", "--workspace", str(root), "--log-format", "json", "sync", name]
    with (root / f"{name}.out").open("a") as out:  # the summary and error, for a failing assertion
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    child = SyncProcess(proc)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                child.events.put(json.loads(line))
            except json.JSONDecodeError:
                child.events.put({"event": "text", "line": line})
        child.events.put({"event": "exited"})

    threading.Thread(target=pump, daemon=True).start()
    return child


@pytest.fixture
def slow_sandbox() -> Iterator[tuple[SandboxServer, SandboxDataset]]:
    dataset = SandboxDataset(seed=11, scale=1, counts=COUNTS)
    # Every page takes at least 0.4 s: a stream of 240 rows in pages of 20 takes at least 4.8 s.
    with SandboxServer(dataset, api_key=API_KEY, faults=FaultConfig(slow_ms=400)) as server:
        yield server, dataset


def write_connections(root: Path, url: str, names: list[str], *, lock: float, page_size: int = 20) -> None:
    (root / "connections").mkdir(exist_ok=True)
    for name in names:
        (root / "connections" / f"{name}.yaml").write_text(
            CONNECTION.format(name=name, url=url, lock=lock, page_size=page_size))
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")


def table_rows(path: Path, namespace: str, table: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute(f'SELECT * FROM "{namespace}"."{table}"')
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def assert_exact(path: Path, namespace: str, dataset: SandboxDataset) -> None:
    for stream in COUNTS:
        rows = table_rows(path, namespace, stream)
        ids = sorted(r["id"] for r in rows)
        assert ids == sorted(r["id"] for r in dataset.current_records(stream)), f"{namespace}.{stream}"


@pytest.mark.timeout(600)
def test_ten_concurrent_syncs_into_one_file_all_succeed(
        tmp_path: Path, slow_sandbox: tuple[SandboxServer, SandboxDataset]) -> None:
    server, dataset = slow_sandbox
    names = [f"cust{i:02d}" for i in range(10)]
    # The lock timeout bounds the wait for the other syncs' commits (about 150 of them here, on a
    # shared CI machine); every sync outlasts it: 30 pages of at least 0.4 s per stream.
    lock_timeout = 10.0
    write_connections(tmp_path, server.url, names, lock=lock_timeout, page_size=8)
    syncs = {name: start_sync(tmp_path, name) for name in names}
    deadline = time.monotonic() + 500
    codes = {name: child.finish(timeout=max(1.0, deadline - time.monotonic())) for name, child in syncs.items()}
    failures = {name: [e for e in child.seen + list(child.events.queue) if e.get("level") == "ERROR"]
                for name, child in syncs.items() if codes[name] != 0}
    assert codes == dict.fromkeys(names, 0), failures

    warehouse = tmp_path / "shared.duckdb"
    for name in names:
        assert_exact(warehouse, name, dataset)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("""SELECT connection, min(started_at), max(finished_at),
                                     epoch(max(finished_at) - min(started_at)), bool_and(status = 'succeeded')
                              FROM _rooftop.syncs GROUP BY connection ORDER BY connection""").fetchall()
        states = con.execute("SELECT DISTINCT connection FROM _rooftop.state ORDER BY 1").fetchall()
    assert [r[0] for r in runs] == names and all(r[4] for r in runs)
    # Each sync outlasted the lock timeout (the sandbox delays every page), and they overlapped:
    # every one started before any finished.
    assert all(r[3] > lock_timeout for r in runs), runs
    assert max(r[1] for r in runs) < min(r[2] for r in runs), runs
    assert [s[0] for s in states] == names
    assert not [p for p in (tmp_path / "shared.duckdb.staging").iterdir() if p.name != "locks"]


def read_only(path: Path, timeout: float) -> duckdb.DuckDBPyConnection:
    """A read-only connection, polling while a writer holds the file, failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            threading.Event().wait(0.02)  # poll interval


@pytest.mark.timeout(300)
def test_a_reader_every_2_seconds_gets_answers_during_a_long_sync(
        tmp_path: Path, slow_sandbox: tuple[SandboxServer, SandboxDataset]) -> None:
    server, dataset = slow_sandbox
    write_connections(tmp_path, server.url, ["long"], lock=60, page_size=10)  # 24 pages per stream
    warehouse = tmp_path / "shared.duckdb"
    child = start_sync(tmp_path, "long")
    child.wait_for(time.monotonic() + 120, event="sync_started")
    answers: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        # A reader waits for at most one commit: a second is plenty (commits of 60 rows).
        while not done.is_set():
            try:
                with read_only(warehouse, timeout=5) as con:
                    states = con.execute("SELECT count(*) FROM _rooftop.state").fetchone()
                    leases = con.execute("SELECT count(*) - count(DISTINCT id) FROM long.leases").fetchone() \
                        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'leases'"
                                       ).fetchone() == (1,) else (0,)
                assert states is not None and leases is not None
                answers.append((int(states[0]), int(leases[0])))
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
                errors.append(exc)
                return
            done.wait(2)  # the reader's pace (every 2 s), not a synchronisation

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        code = child.finish(timeout=240)
    finally:
        done.set()
        thread.join()
    assert code == 0
    assert not errors, errors
    assert len(answers) >= 3, answers  # 24 slow pages per stream: several reads ran during the sync
    assert all(duplicates == 0 for _, duplicates in answers)
    assert_exact(warehouse, "long", dataset)


def synced_then_changed(root: Path, server: SandboxServer, dataset: SandboxDataset, name: str, *,
                        lock: float) -> Path:
    """A first sync of `name`, then a tenth of its leases changed at the source; the warehouse path."""
    write_connections(root, server.url, [name], lock=lock)
    assert start_sync(root, name).finish(timeout=120) == 0
    dataset.mutate("leases", update=0.1, insert=0.05, delete=0.0, seed=3)
    return root / "shared.duckdb"


@pytest.mark.timeout(300)
def test_an_analyst_holding_the_file_read_only_delays_only_the_commit(
        tmp_path: Path, slow_sandbox: tuple[SandboxServer, SandboxDataset]) -> None:
    server, dataset = slow_sandbox
    warehouse = synced_then_changed(tmp_path, server, dataset, "held", lock=120)  # something to look at

    analyst = duckdb.connect(str(warehouse), read_only=True)
    try:
        child = start_sync(tmp_path, "held")
        # Everything up to a commit ran while the analyst held the file: reads, planning, staging.
        child.wait_for(time.monotonic() + 120, event="commit_started")
        assert child.proc.poll() is None
        assert analyst.execute("SELECT count(*) FROM held.units").fetchone() == (COUNTS["units"],)
    finally:
        analyst.close()
    assert child.finish(timeout=120) == 0
    assert_exact(warehouse, "held", dataset)


@pytest.mark.timeout(300)
def test_a_killed_sync_leaves_the_warehouse_and_its_staging_is_removed_by_the_next(
        tmp_path: Path, slow_sandbox: tuple[SandboxServer, SandboxDataset]) -> None:
    server, dataset = slow_sandbox
    warehouse = synced_then_changed(tmp_path, server, dataset, "crash", lock=60)
    staging = tmp_path / "shared.duckdb.staging"
    before = {stream: table_rows(warehouse, "crash", stream) for stream in COUNTS}

    child = start_sync(tmp_path, "crash")
    child.wait_for(time.monotonic() + 120, event="commit_started", stream="units", final=True)
    child.proc.kill()
    child.proc.wait()
    left = [p for p in staging.iterdir() if p.name != "locks"]
    assert len(left) == 1  # the dead sync's staging directory (its rows may be in a build table by now)
    # units' swap had not committed, leases' staged rows are not in: the warehouse is as before
    # for everything that did not commit on its own (an incremental checkpoint may have).
    assert table_rows(warehouse, "crash", "units") == before["units"]

    assert start_sync(tmp_path, "crash").finish(timeout=120) == 0
    assert not left[0].exists()
    assert not [p for p in staging.iterdir() if p.name != "locks"]
    assert_exact(warehouse, "crash", dataset)
    with duckdb.connect(str(warehouse), read_only=True) as con:  # nor a full refresh's build table
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, "
                           "'_rooftop_build_')").fetchone() == (0,)
