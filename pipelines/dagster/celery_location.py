"""The code location for several machines: the workspace's jobs, each step sent to a Celery worker.

`pipelines.definitions` runs every step on the machine that runs the run. Point the code location
here instead (workspace.yaml `module_name: pipelines.dagster.celery_location`, or `dagster job
execute -m pipelines.dagster.celery_location`) and every job uses Dagster's `celery_executor`: the
run's process puts each connection's sync on the broker and any `dagster-celery worker` picks it
up. A worker needs what the run's process needs (docs/deployment.md): this package installed with
the `celery` extra, the workspace files with `ROOFTOP_WORKSPACE` pointing at them, the connection
secrets, the warehouse, and the instance's Postgres storage (the run sends the worker its instance
reference).

Broker and result backend are read from the environment when a run starts
(`DAGSTER_CELERY_BROKER_URL`, `DAGSTER_CELERY_BACKEND_URL`), not from run config: a run a schedule
starts has no executor config of its own, and the workers read the same variables through
deploy/celery.yaml (`dagster-celery worker start -y deploy/celery.yaml`).

Separate from `pipelines.definitions` because it imports `dagster_celery` (the `celery` extra): a
single-machine install without it keeps loading the default location.
"""

from __future__ import annotations

from dagster_celery import celery_executor

from pipelines.dagster.build import build_definitions, workspace_root

BROKER_ENV = "DAGSTER_CELERY_BROKER_URL"
BACKEND_ENV = "DAGSTER_CELERY_BACKEND_URL"

executor = celery_executor.configured({"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}},
                                      name="rooftop_celery")
defs = build_definitions(workspace_root(), executor=executor)
