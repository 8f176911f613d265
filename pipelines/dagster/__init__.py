"""Dagster wiring: every connection of a workspace as assets, a job, a schedule and policies.

Dagster only *wires* the engine: the asset body calls `pipelines.engine.run_sync`, the same code
path as `rooftop sync`. This package and `pipelines/definitions.py` are the only modules that
import dagster (tests/test_architecture.py enforces it), so the engine and the CLI run without it.

    translator.py RooftopTranslator: a stream → its AssetSpec (key, group, kinds, tags...); overridable
    specs.py      catalog + YAML → asset specs (via the translator), check specs, run tags
    policies.py   YAML → RetryPolicy, schedule, job (pure mapping, no I/O)
    execute.py    the asset body: refusals, run_sync, metadata, checks, retry/no-retry decision
    broken.py     a visibly failing asset for a connection file that cannot be loaded
    build.py      one `Definitions` for a workspace (what `pipelines.definitions` exposes)
    write_jobs.py a connection's warehouse-driven write jobs (`writes:`) as assets
    launch.py     a connection's job launched as a run from outside Dagster (the HTTP API)
    component.py  the workspace as a Dagster Component, for projects loaded by `dg`
    celery_location.py  the code location for several machines: each step sent to a Celery worker
"""

from pipelines.dagster.build import build_definitions, connection_job
from pipelines.dagster.translator import RooftopTranslator, StreamTranslatorData

__all__ = ["RooftopTranslator", "StreamTranslatorData", "build_definitions", "connection_job"]
