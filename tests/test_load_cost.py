"""Loading a fleet's workspace costs no network and no TLS setup per connection (issue 14 item 1).

The code location is loaded by every Dagster process (webserver, daemon, run worker, step), so what
it costs per connection is paid hundreds of times. The figures are in bench/load_cost.py; these
tests guard the rules that keep them low, by behaviour rather than by timing.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.http.client import HttpClient, shared_ssl_context
from connectors.http.retry import RetryConfig
from pipelines.dagster.build import build_definitions
from protocol.errors import SourceUnavailable

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
