"""Dagster's RetryPolicy on real runs: transient source failures retry and recover, auth failures do not.

Runs go through `execute_job` on a persistent instance in a temp directory, with the job's
in-process executor, the way a launched run executes: the connection's job (rebuilt from the
workspace by `pipelines.dagster.connection_job`) runs its one step in the run's own process, here
the test's, and a step up for retry is executed again in that process.
The sandbox runs in this test process and answers the first requests with 503, more of them
than the connector's request-level retries absorb, so the first *attempt* must fail.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    build_reconstructable_job,
    execute_job,
)

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from tests.conftest import API_KEY
from tests.warehouse_checks import expected, table_rows

REQUEST_ATTEMPTS = 2
STREAMS = ("properties", "leases")


def _workspace(root: Path, url: str, api_key: str) -> Path:
    (root / "connections").mkdir(parents=True)
    (root / "connections" / "flaky.yaml").write_text(textwrap.dedent(f"""\
        name: flaky
        source:
          connector: sandbox
          config:
            base_url: "{url}"
            api_key: "{api_key}"
            retries: {{attempts: {REQUEST_ATTEMPTS}, initial_delay: 0}}
        destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
        retries: {{attempts: 3, delay: 0s, backoff: constant, jitter: false}}
        streams:
          - {{name: properties, sync_mode: full_refresh_overwrite}}
          - {{name: leases, sync_mode: incremental_deduped}}
        """))
    return root


def _run(root: Path, instance_dir: Path) -> tuple[bool, Counter, list[str]]:
    job = build_reconstructable_job("pipelines.dagster.build", "connection_job",
                                    reconstructable_args=(str(root), "flaky"))
    instance_dir.mkdir()
    with DagsterInstance.local_temp(str(instance_dir)) as instance, execute_job(job, instance=instance) as result:
        events = [r.dagster_event for r in instance.all_logs(result.run_id) if r.dagster_event]
        failures = [e.step_failure_data.error.message for e in events
                    if e.event_type == DagsterEventType.STEP_FAILURE]
        return result.success, Counter(e.event_type for e in events), failures


@pytest.mark.slow
def test_transient_failures_are_retried_and_the_run_ends_with_the_sources_data(tmp_path: Path) -> None:
    with SandboxServer(SandboxDataset(seed=7, scale=2), api_key=API_KEY) as sandbox:
        root = _workspace(tmp_path / "ws", sandbox.url, API_KEY)
        # Every stream's first request and its request-level retries get 503: attempt 1 fails.
        sandbox.set_faults(fail_first=REQUEST_ATTEMPTS * len(STREAMS), status=503)
        ok, events, failures = _run(root, tmp_path / "instance")
        statuses = [status for _, _, _, status in sandbox.request_log]
        data = {name: list(sandbox.dataset.current_records(name)) for name in STREAMS}
    assert ok, failures
    assert events[DagsterEventType.STEP_UP_FOR_RETRY] == 1 and events[DagsterEventType.STEP_RESTARTED] == 1
    assert events[DagsterEventType.STEP_SUCCESS] == 1 and DagsterEventType.STEP_FAILURE not in events
    assert statuses[:4] == [503] * 4 and set(statuses[4:]) == {200}
    db = root / "wh.duckdb"
    assert table_rows(db, "sandbox.leases") == expected(data["leases"])
    assert table_rows(db, "sandbox.properties", ("id", "name")) == expected(data["properties"], ("id", "name"))


@pytest.mark.slow
def test_an_auth_failure_fails_once_without_retry(tmp_path: Path) -> None:
    wrong = "sbx-wrong-key-0000"
    with SandboxServer(SandboxDataset(seed=7, scale=2), api_key=API_KEY) as sandbox:
        root = _workspace(tmp_path / "ws", sandbox.url, wrong)
        ok, events, failures = _run(root, tmp_path / "instance")
        statuses = {status for _, _, _, status in sandbox.request_log}
    assert not ok and statuses == {401}
    assert events[DagsterEventType.STEP_FAILURE] == 1
    assert DagsterEventType.STEP_UP_FOR_RETRY not in events and DagsterEventType.STEP_RESTARTED not in events
    [message] = failures
    assert "source.config.api_key" in message and "401" in message and wrong not in message
