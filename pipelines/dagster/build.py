"""One `Definitions` for a workspace: every connection file in `connections/`.

Per connection: a subsettable multi-asset (one asset per stream, its spec from the translator:
default key `[namespace, table]`), external assets for the source streams upstream of it, a job
tagged for the run queue, a schedule, a RetryPolicy and a concurrency pool. A connection that
cannot be built (bad YAML, an unknown stream, a source that cannot be discovered, a table or an
asset key another connection already owns) is logged and replaced by a failing asset that carries
its error (see `broken.py`); the others still load.

Runs execute in process by default: a connection's job is one step (its multi-asset), so the
multiprocess executor's only effect was a second process that loads the whole code location again
before the sync starts (at 500 connections, about 7 of a run's CPU seconds). The Celery location
passes its own executor.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's annotations (the config class).

import logging
import os
import pkgutil
from collections.abc import Collection, Iterator
from contextlib import suppress
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    ExecutorDefinition,
    JobDefinition,
    MaterializeResult,
    in_process_executor,
    multi_asset,
)

from pipelines.dagster.broken import broken_asset
from pipelines.dagster.execute import SyncConfig, execute
from pipelines.dagster.policies import connection_schedules, retry_policy, sync_job
from pipelines.dagster.specs import ConnectionSpecs, connection_specs, stream_path
from pipelines.dagster.translator import RooftopTranslator
from pipelines.dagster.write_jobs import write_job_definitions
from pipelines.engine.collisions import find_collisions, landings
from pipelines.workspace.loading import Workspace, load_workspace
from protocol.errors import ConnectionFileError

log = logging.getLogger("rooftop.dagster")
WORKSPACE_ENV = "ROOFTOP_WORKSPACE"


def workspace_root() -> Path:
    """`$ROOFTOP_WORKSPACE`, else the working directory (workspace.yaml sets it to the repo root)."""
    return Path(os.environ.get(WORKSPACE_ENV) or ".").resolve()


def build_definitions(root: Path, translator: RooftopTranslator | None = None,
                      connections: Collection[str] | None = None,
                      executor: ExecutorDefinition | None = in_process_executor) -> Definitions:
    """Every connection of the workspace at `root` (or only those named in `connections`), its assets
    shaped by `translator` (default: Rooftop's), its jobs run by `executor` (None: Dagster's default,
    a process per step)."""
    translator = translator or RooftopTranslator()
    ws = load_workspace(root)
    if connections is not None:
        ws = _selected(ws, connections)
    broken: list[tuple[str, str]] = [(e.file or "connections/?", str(e)) for e in ws.errors]
    sources: dict[AssetKey, AssetSpec] = {}
    assets: list[AssetsDefinition] = []
    jobs, schedules = [], []
    built: list[ConnectionSpecs] = []
    for conn in ws.connections.values():
        try:
            built.append(connection_specs(conn, translator))
        except Exception as exc:  # noqa: BLE001 - one connection must not hide the others; reported below
            text = str(exc) if conn.file in str(exc) else f"{conn.file}: {type(exc).__name__}: {exc}"
            broken.append((conn.file, conn.redactor(text)))
    refused = _refusals(built)
    for specs in built:
        conn = specs.conn
        if conn.name in refused:
            broken.append((conn.file, conn.redactor(refused[conn.name])))
            continue
        sources.update({spec.key: spec for spec in specs.sources if spec.key not in sources})
        assets.append(sync_assets(specs))
        job = sync_job(specs)
        jobs.append(job)
        schedules.extend(connection_schedules(specs, job))
        job_assets, job_schedules = write_job_definitions(specs, built)
        assets.extend(job_assets)
        schedules.extend(job_schedules)
    used: set[str] = set()
    for file, message in broken:
        log.error("connection file %s is not loaded in Dagster: %s", file, message)
        assets.append(broken_asset(file, message, used))
    return Definitions(assets=[*sources.values(), *assets], jobs=jobs, schedules=schedules, executor=executor)


def _selected(ws: Workspace, names: Collection[str]) -> Workspace:
    """The named connections; a name whose file is broken keeps that file's error (shown as broken)."""
    for name in names:
        with suppress(ConnectionFileError):
            ws.get(name)  # an unknown name raises ConfigError, listing the known ones
    return Workspace(root=ws.root, connections={n: c for n, c in ws.connections.items() if n in names},
                     errors=[e for e in ws.errors if Path(e.file or "").stem in names])


def _refusals(built: list[ConnectionSpecs]) -> dict[str, str]:
    """Connection name → why it is not loaded: a table another connection lands, or an asset key it uses.

    Two connections landing one table in the same warehouse is refused exactly as `rooftop validate`
    and `rooftop sync` refuse it, whatever the keys. Otherwise the keys decide: the engine's check
    assumes the default key `[namespace, table]`, so its "another warehouse" verdict stands only
    when the translator's keys clash too (its message is then the CLI's, word for word).
    """
    lost = find_collisions(landings(s.conn, s.plans) for s in built)
    clashes = asset_key_clashes(built)
    refused: dict[str, str] = {}
    for specs in built:
        collision = lost.get(specs.name)
        if collision is not None and (collision.same_warehouse or specs.name in clashes):
            refused[specs.name] = str(collision.error)
        elif specs.name in clashes:
            refused[specs.name] = clashes[specs.name]
    return refused


def asset_key_clashes(built: list[ConnectionSpecs]) -> dict[str, str]:
    """Connection name → the first of its table keys that an earlier connection's table or any
    source-stream asset already uses. Dagster refuses duplicate keys for the whole code location,
    so the later file (in load order, the order of `built`) is the one refused."""
    upstream: dict[AssetKey, ConnectionSpecs] = {}
    for specs in built:
        for spec in specs.sources:
            upstream.setdefault(spec.key, specs)
    owners: dict[AssetKey, ConnectionSpecs] = {}
    found: dict[str, str] = {}
    for specs in built:
        for index, key in enumerate(specs.stream_of):
            owner, what = owners.get(key), "the table"
            if owner is None or owner.name == specs.name:
                owner, what = upstream.get(key), "the source stream"
            if owner is not None and specs.name not in found:
                conn = specs.conn
                found[specs.name] = str(conn.error(
                    f"asset key {key.to_user_string()} is already {what} of connection {owner.name!r} "
                    f"({owner.conn.file}): Dagster shows one asset per key; change this one's namespace or "
                    "prefix, or the translator's keys", stream_path(conn, index)))
        for key in specs.stream_of:  # a refused connection still claims its keys, as in find_collisions
            owners.setdefault(key, specs)
    return found


def sync_assets(specs: ConnectionSpecs) -> AssetsDefinition:
    """The connection's multi-asset: selecting some of its tables syncs only those streams."""
    conn = specs.conn

    @multi_asset(name=f"{conn.name}_sync", specs=specs.assets, check_specs=specs.checks, can_subset=True,
                 retry_policy=retry_policy(conn.config.retries), pool=specs.pool,
                 description=f"Sync of connection {conn.name} ({conn.file}) through the Rooftop engine.")
    def _sync(context: AssetExecutionContext, config: SyncConfig
              ) -> Iterator[MaterializeResult[None] | AssetCheckResult]:
        yield from execute(context, specs, config)

    return _sync


def connection_job(root: str, connection: str, translator: str | None = None) -> JobDefinition:
    """One connection's job, rebuilt from the workspace at `root`.

    For `dagster.build_reconstructable_job`: a run launched outside a code location (execute_job
    in tests and scripts) re-creates its job in each step process from these strings. `translator`
    is the import path (`package.module:Name`) of a `RooftopTranslator` subclass or instance, for a
    code location that uses one: the step processes must compute the same asset keys.
    """
    return build_definitions(Path(root), _import_translator(translator)).resolve_job_def(connection)


def _import_translator(path: str | None) -> RooftopTranslator | None:
    if path is None:
        return None
    found = pkgutil.resolve_name(path)
    translator = found() if isinstance(found, type) else found
    if not isinstance(translator, RooftopTranslator):
        raise TypeError(f"{path} is not a RooftopTranslator (subclass or instance)")
    return translator
