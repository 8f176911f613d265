"""One `Definitions` for a workspace: every connection file in `connections/`.

Per connection: a subsettable multi-asset (one asset per stream, key `[namespace, table]`),
external assets for the source streams upstream of it, a job tagged for the run queue, a schedule,
a RetryPolicy and a concurrency pool. A connection that cannot be built (bad YAML, an unknown
stream, a source that cannot be discovered, a table another connection already owns) is logged
and replaced by a failing asset that carries its error (see `broken.py`); the others still load.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's annotations (the config class).

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    JobDefinition,
    MaterializeResult,
    multi_asset,
)

from pipelines.dagster.broken import broken_asset
from pipelines.dagster.execute import SyncConfig, execute
from pipelines.dagster.policies import connection_schedule, retry_policy, sync_job
from pipelines.dagster.specs import ConnectionSpecs, connection_specs
from pipelines.engine.collisions import find_collisions, landings
from pipelines.workspace.loading import load_workspace

log = logging.getLogger("rooftop.dagster")
WORKSPACE_ENV = "ROOFTOP_WORKSPACE"


def workspace_root() -> Path:
    """`$ROOFTOP_WORKSPACE`, else the working directory (workspace.yaml sets it to the repo root)."""
    return Path(os.environ.get(WORKSPACE_ENV) or ".").resolve()


def build_definitions(root: Path) -> Definitions:
    ws = load_workspace(root)
    broken: list[tuple[str, str]] = [(e.file or "connections/?", str(e)) for e in ws.errors]
    sources: dict[AssetKey, AssetSpec] = {}
    assets: list[AssetsDefinition] = []
    jobs, schedules = [], []
    built: list[ConnectionSpecs] = []
    for conn in ws.connections.values():
        try:
            built.append(connection_specs(conn))
        except Exception as exc:  # noqa: BLE001 - one connection must not hide the others; reported below
            text = str(exc) if conn.file in str(exc) else f"{conn.file}: {type(exc).__name__}: {exc}"
            broken.append((conn.file, conn.redactor(text)))
    # The same check as `rooftop validate` and `rooftop sync`: a later file landing a table an
    # earlier one lands is broken here with the very message the CLI prints.
    lost = find_collisions(landings(s.conn, s.plans) for s in built)
    for specs in built:
        conn = specs.conn
        if conn.name in lost:
            broken.append((conn.file, conn.redactor(str(lost[conn.name].error))))
            continue
        sources.update({spec.key: spec for spec in specs.sources if spec.key not in sources})
        assets.append(sync_assets(specs))
        job = sync_job(specs)
        jobs.append(job)
        schedule = connection_schedule(specs, job)
        if schedule is not None:
            schedules.append(schedule)
    used: set[str] = set()
    for file, message in broken:
        log.error("connection file %s is not loaded in Dagster: %s", file, message)
        assets.append(broken_asset(file, message, used))
    return Definitions(assets=[*sources.values(), *assets], jobs=jobs, schedules=schedules)


def sync_assets(specs: ConnectionSpecs) -> AssetsDefinition:
    """The connection's multi-asset: selecting some of its tables syncs only those streams."""
    conn = specs.conn

    @multi_asset(name=f"{conn.name}_sync", specs=specs.assets, check_specs=specs.checks, can_subset=True,
                 retry_policy=retry_policy(conn.config.retries), pool=specs.pool,
                 description=f"Sync of connection {conn.name} ({conn.file}) through the Rooftop engine.")
    def _sync(context: AssetExecutionContext, config: SyncConfig
              ) -> Iterator[MaterializeResult | AssetCheckResult]:
        yield from execute(context, specs, config)

    return _sync


def connection_job(root: str, connection: str) -> JobDefinition:
    """One connection's job, rebuilt from the workspace at `root`.

    For `dagster.build_reconstructable_job`: a run launched outside a code location (execute_job
    in tests and scripts) re-creates its job in each step process from these two strings.
    """
    return build_definitions(Path(root)).resolve_job_def(connection)
