"""Loading a fleet's workspace costs no network and no TLS setup per connection (issue 14 item 1).

The code location is loaded by every Dagster process (webserver, daemon, each run), so what it
costs per connection is paid hundreds of times. The figures are in bench/load_cost.py; these
tests guard the rules that keep them low, by behaviour rather than by timing: no request and no
server at load (a real API counting its requests, and the interpreter's own socket audit events in
a fresh process), and a run executes in the process that loaded it.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, build_reconstructable_job, execute_job, materialize

from connectors.http.client import HttpClient, shared_ssl_context
from connectors.http.retry import RetryConfig
from pipelines.dagster.build import build_definitions
from protocol.errors import SourceUnavailable
from tests.conftest import API_KEY
from tests.support.http_api import CursorPages, TestApi
from tests.warehouse_checks import rows

CONNECTION = """\
name: customer_{n}
source:
  connector: rest_api
  config:
    base_url: https://127.0.0.1:1/v{n}
    auth: {{ type: bearer, token: secret-{n} }}
    records: data
    streams:
      - name: leases
        path: /leases
        primary_key: [id]
        schema: {{ id: int64, status: string }}
destination:
  connector: duckdb
  config: {{ path: warehouse.duckdb }}
namespace: custom_customer_{n}
schedule: {{ cron: "0 * * * *", timezone: UTC }}
"""


@pytest.fixture
def tls_contexts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the SSL contexts made (each loads the CA bundle: ~20 ms of CPU)."""
    made: list[int] = []
    original: Callable[..., ssl.SSLContext] = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return made


def test_loading_https_connections_into_dagster_makes_no_tls_context(tmp_path: Path, tls_contexts: list[int]) -> None:
    (tmp_path / "connections").mkdir()
    for n in range(3):
        (tmp_path / "connections" / f"customer_{n}.yaml").write_text(CONNECTION.format(n=n))
    defs = build_definitions(tmp_path)
    assert {job.name for job in defs.jobs or []} == {"customer_0", "customer_1", "customer_2"}
    assert tls_contexts == []  # nothing was sent, so nothing needed TLS (a server at :1 would refuse anyway)


def test_https_clients_share_one_tls_context(tls_contexts: list[int]) -> None:
    shared_ssl_context.cache_clear()
    for n in range(3):
        # Nothing listens on port 1: each client is built and used, and fails to connect.
        with HttpClient(f"https://127.0.0.1:1/v{n}", retry=RetryConfig(attempts=1)) as client, \
                pytest.raises(SourceUnavailable):
            client.get("/ping")
    assert len(tls_contexts) == 1


UNDECLARED = """\
name: undeclared
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: data
    paginator: {{type: cursor, page_size: 10}}
    streams:
      - {{name: leases, path: /leases, primary_key: [id],
          incremental: {{cursor_field: updated_at, param: since, cursor_type: timestamp}}}}
destination: {{connector: duckdb, config: {{path: warehouse.duckdb}}}}
namespace: undeclared
streams:
  - {{name: leases, sync_mode: incremental_deduped, fields: [id, status, amount, updated_at]}}
"""
IN_PROCESS_SANDBOX = f"""\
name: demo
source: {{connector: sandbox, config: {{api_key: "{API_KEY}", scale: 2}}}}
destination: {{connector: duckdb, config: {{path: warehouse.duckdb}}}}
streams: [{{name: properties, sync_mode: full_refresh_overwrite}}]
"""
LOAD_PROBE = """
import json, sys
from pathlib import Path
sockets = []
sys.addaudithook(lambda event, args: sockets.append(event) if event in ("socket.bind", "socket.connect") else None)
from pipelines.dagster.build import build_definitions
defs = build_definitions(Path(sys.argv[1]))
print(json.dumps({"jobs": sorted(job.name for job in defs.jobs or []), "sockets": sockets}))
"""


def test_a_load_sends_no_request_and_starts_no_server_and_the_run_discovers(tmp_path: Path) -> None:
    records = [{"id": i, "status": "open", "amount": i * 1.5, "updated_at": f"2024-01-{i + 1:02d}T00:00:00Z"}
               for i in range(25)]
    with TestApi(CursorPages(records, size=10)) as api:
        (tmp_path / "connections").mkdir()
        (tmp_path / "connections" / "undeclared.yaml").write_text(UNDECLARED.format(url=api.url))
        (tmp_path / "connections" / "demo.yaml").write_text(IN_PROCESS_SANDBOX)
        # A fresh interpreter, as a Dagster process is: Python's audit events show every socket it
        # binds (a server starting) or connects (a request); the API counts what reaches it.
        done = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(tmp_path)], capture_output=True, text=True,
                              timeout=120, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert done.returncode == 0, done.stderr[-3000:]
        loaded = json.loads(done.stdout.strip().splitlines()[-1])
        assert loaded == {"jobs": ["demo", "undeclared"], "sockets": []}
        assert api.count() == 0

        defs = build_definitions(tmp_path)
        key = AssetKey(["undeclared", "leases"])
        spec = next(s for s in defs.resolve_all_asset_specs() if s.key == key)
        columns = {c.name: c.type for c in spec.metadata["dagster/column_schema"].columns}
        assert columns["amount"] == "string"  # named in the YAML, its type unknown until a run discovers it
        assert api.count() == 0
        result = materialize([defs.resolve_assets_def(key)], instance=DagsterInstance.ephemeral())
        assert result.success
        assert api.count() > 0
    assert rows(tmp_path / "warehouse.duckdb", "SELECT id, status, amount FROM undeclared.leases ORDER BY id") == \
        [(r["id"], r["status"], r["amount"]) for r in records]
    [event] = result.get_asset_materialization_events()
    run_columns = {c.name: c.type for c in event.materialization.metadata["dagster/column_schema"].value.columns}
    assert run_columns["amount"] == "double" and run_columns["id"] == "int64"


def test_a_run_syncs_in_the_process_that_loaded_the_code_location(tmp_path: Path) -> None:
    """One load per run: the job's one step is not handed to a second process that would load every
    connection again. Run as a launched run is (a reconstructable job on a persistent instance)."""
    root = tmp_path / "ws"
    (root / "connections").mkdir(parents=True)
    (root / "connections" / "demo.yaml").write_text(IN_PROCESS_SANDBOX)
    job = build_reconstructable_job("pipelines.dagster.build", "connection_job",
                                    reconstructable_args=(str(root), "demo"))
    (tmp_path / "instance").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "instance")) as instance, \
            execute_job(job, instance=instance) as result:
        assert result.success
        [event] = result.get_asset_materialization_events()
        assert event.materialization.metadata["worker"].value == f"{socket.gethostname()}:{os.getpid()}"
    assert rows(root / "warehouse.duckdb", "SELECT count(*) FROM sandbox.properties") == [(2,)]


@pytest.fixture
def counting_port() -> Iterator[tuple[int, list[int]]]:
    """A port on 127.0.0.1 that accepts and at once closes every connection, counting them.

    psycopg connects through libpq, which Python's socket audit events do not see; whatever client
    connects here is counted (and fails at once, so a load that tried would also be slow to hide)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # the listener was shut down: the test is over
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (closing alone does not)
    listener.close()
    thread.join(timeout=10)


WAREHOUSE = "{{host: 127.0.0.1, port: {port}, database: warehouse, user: loader, password: secret-pw}}"
SQL_INTO_POSTGRES = f"""\
name: pms_tables
source:
  connector: sql
  config: {{{{url: "postgresql://reader@127.0.0.1:{{port}}/pms", password: secret-pw, include: ["*"]}}}}
destination: {{{{connector: postgres, config: {WAREHOUSE}}}}}
namespace: pms
streams:
  - {{{{name: leases, sync_mode: incremental_deduped, primary_key: [id], cursor_field: updated_at,
      fields: [id, status, updated_at]}}}}
  - {{{{name: units, sync_mode: full_refresh_overwrite}}}}
"""
REST_INTO_POSTGRES = f"""\
name: vendor
source:
  connector: rest_api
  config:
    base_url: http://127.0.0.1:{{port}}/v1
    records: data
    streams: [{{{{name: tickets, path: /tickets, primary_key: [id]}}}}]
destination: {{{{connector: postgres, config: {WAREHOUSE}}}}}
namespace: vendor
streams: [{{{{name: tickets, sync_mode: full_refresh_overwrite, fields: [id, subject]}}}}]
"""
SPECS_PROBE = LOAD_PROBE.replace(
    'print(json.dumps({"jobs"',
    'specs = {"/".join(s.key.path): [c.name for c in s.metadata["dagster/column_schema"].columns]'
    ' for s in defs.resolve_all_asset_specs() if s.key.path[0] != "source"}\n'
    'print(json.dumps({"specs": specs, "jobs"')


def test_a_load_connects_to_no_database_and_no_warehouse(tmp_path: Path, counting_port: tuple[int, list[int]]) -> None:
    """A Postgres warehouse (where learnt schemas live) and a sql source are network connections: a
    load opens neither (both point at a port that counts connections, and in the loading process
    Python's socket events show nothing). The sql streams are the ones the file lists, their
    columns those it names; the rest_api stream's, those its file names."""
    port, accepted = counting_port
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "pms_tables.yaml").write_text(SQL_INTO_POSTGRES.format(port=port))
    (tmp_path / "connections" / "vendor.yaml").write_text(REST_INTO_POSTGRES.format(port=port))
    done = subprocess.run([sys.executable, "-c", SPECS_PROBE, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["jobs"] == ["pms_tables", "vendor"] and loaded["sockets"] == []
    assert accepted == []
    columns = {key: [c for c in names if not c.startswith("_rooftop")] for key, names in loaded["specs"].items()}
    assert columns == {"pms/leases": ["id", "updated_at", "status"], "pms/units": [],
                       "vendor/tickets": ["id", "subject"]}
