"""Across machines: six connections' jobs on Dagster's Celery executor, run by two Celery workers.

Real processes only: Debian's `redis-server` on a free 127.0.0.1 port as the broker and result
backend, two `dagster-celery worker start` workers with distinct names, the instance's run and event
storage in PostgreSQL (deploy/dagster.yaml), a Postgres warehouse, and six `dagster job execute -m
pipelines.dagster.celery_location` processes launched at once. Each worker has one slot, so while
one syncs a connection the other takes the next: both must have run some (the `worker` metadata of
each materialization), and every table must hold exactly the sandbox's records.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import textwrap
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.sandbox.dataset import SandboxDataset
from tests.postgres_server import PostgresServer, _free_port
from tests.support.dagster_instance import ROOT, libpq_dsn, postgres_home
from tests.test_dagster_ui import BIN, _poll, _process
from tests.warehouse_checks import LEASE_COLUMNS, expected

CONNECTIONS = [f"fleet_{i}" for i in range(1, 7)]
WORKERS = ("rooftop_w1", "rooftop_w2")
# Without redis-server a developer's run skips; CI (which installs it in .ci/run) must run, so there
# a missing binary fails the test when it starts the broker.
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None
                                and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
                                reason="no redis-server (Debian package redis-server; .ci/run installs it)")


@contextmanager
def _redis(log: Path) -> Iterator[int]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its port once it accepts clients."""
    port = _free_port()
    with _process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--logfile", ""], dict(os.environ), log.parent, log) as proc:
        _wait_for_line(log, "Ready to accept connections", proc)
        yield port


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    def seen() -> bool | None:
        assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        return True if text in log.read_text(errors="replace") else None

    _poll(f"{text!r} in {log.name}", seen, timeout, log)


def _workspace(root: Path, warehouse_url: str) -> Path:
    (root / "connections").mkdir(parents=True)
    for seed, name in enumerate(CONNECTIONS, start=1):
        (root / "connections" / f"{name}.yaml").write_text(textwrap.dedent(f"""\
            name: {name}
            source: {{connector: sandbox, config: {{api_key: "rooftop-sandbox", seed: {seed}, scale: 1}}}}
            destination: {{connector: postgres, config: {{url: "{warehouse_url}"}}}}
            prefix: {name}_
            streams:
              - {{name: properties, sync_mode: full_refresh_overwrite}}
              - {{name: leases, sync_mode: incremental_deduped}}
            """))
    return root


def _leases(warehouse_dsn: str, table: str) -> Counter[tuple[Any, ...]]:
    with psycopg.connect(warehouse_dsn) as db:
        return Counter(db.execute(f"SELECT {', '.join(LEASE_COLUMNS)} FROM sandbox.{table}").fetchall())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_six_connections_run_on_two_celery_workers(tmp_path: Path, postgres_server: PostgresServer) -> None:
    storage_url = postgres_server.url(postgres_server.create_database())
    warehouse_url = postgres_server.url(postgres_server.create_database())
    root = _workspace(tmp_path / "ws", warehouse_url)
    env = {**os.environ, **postgres_home(tmp_path / "dagster_home", storage_url), "ROOFTOP_WORKSPACE": str(root),
           # `dagster-celery worker start` runs `celery` from PATH: the venv's, as an activated venv would.
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        port = stack.enter_context(_redis(logs / "redis.log"))
        # The shipped settings: the code location and the workers read the broker from the environment.
        env.update(DAGSTER_CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0",
                   DAGSTER_CELERY_BACKEND_URL=f"redis://127.0.0.1:{port}/1")
        for name in WORKERS:
            log = logs / f"{name}.log"
            worker = stack.enter_context(_process(
                [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y",
                 str(ROOT / "deploy" / "celery.yaml"), "-n", name, "--", "--concurrency=1"], env, root, log))
            _wait_for_line(log, f"{name}@{socket.gethostname()} ready", worker)
        runs = [subprocess.Popen([str(BIN / "dagster"), "job", "execute", "-m", "pipelines.dagster.celery_location",
                                  "-j", name], env=env, cwd=root,
                                 stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
                for name in CONNECTIONS]
        for name, run in zip(CONNECTIONS, runs, strict=True):
            assert run.wait(timeout=180) == 0, (logs / f"{name}.log").read_text()[-4000:]

    with psycopg.connect(libpq_dsn(storage_url)) as db:
        statuses = db.execute("SELECT pipeline_name, status FROM runs ORDER BY pipeline_name").fetchall()
        workers = db.execute(
            "SELECT asset_key, event::json->'dagster_event'->'event_specific_data'->'materialization'"
            "->'metadata_entries' FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'").fetchall()
    assert statuses == [(name, "SUCCESS") for name in CONNECTIONS]
    ran_on = {key: next(m["entry_data"]["text"] for m in entries if m["label"] == "worker")
              for key, entries in workers}
    assert len(ran_on) == 2 * len(CONNECTIONS)
    by_worker = Counter(worker.split("@")[0] for worker in ran_on.values())
    print(f"materializations per Celery worker: {dict(by_worker)}")
    assert set(by_worker) == set(WORKERS), by_worker
    for name in CONNECTIONS:  # one step per connection: both of its tables synced on one worker
        assert len({worker for key, worker in ran_on.items() if f'"{name}_' in key}) == 1, ran_on

    warehouse = libpq_dsn(warehouse_url)
    for seed, name in enumerate(CONNECTIONS, start=1):
        dataset = SandboxDataset(seed=seed, scale=1)
        assert _leases(warehouse, f"{name}_leases") == expected(dataset.current_records("leases")), name
        with psycopg.connect(warehouse) as db:
            ((properties,),) = db.execute(f"SELECT count(*) FROM sandbox.{name}_properties").fetchall()
        assert properties == dataset.record_count("properties")
