"""Launch a connection's job as a Dagster run from outside Dagster (the HTTP API), and read its status.

The run is *submitted*, not executed here: `dagster job launch` builds it from the job's snapshot in
the code location and hands it to the instance's run coordinator, so with the queued coordinator of
Rooftop's dagster.yaml it waits in the run queue under its tag limits (one run per connection, one
per DuckDB file), and a running `dagster-daemon` (or `rooftop ui`) starts it. The CLI is used rather
than Dagster's private `_cli` functions: it is the public, versioned way to submit a run, and it
loads the code location in its own process, so the API never imports user definitions itself.

The code location is the workspace's `workspace.yaml` when there is one, else the module
`pipelines.definitions`; either way it is named `pipelines.definitions`, the name the daemon's
workspace must use for the run's origin to resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Literal

from dagster import DagsterInstance, DagsterRunStatus

from pipelines.dagster.build import WORKSPACE_ENV
from pipelines.dagster.policies import job_name
from protocol.errors import ConfigError, RooftopError

INSTANCE_FILE = "dagster.yaml"
LAUNCH_TIMEOUT_SECONDS = 300.0
RunState = Literal["queued", "running", "succeeded", "failed"]

_STATES: dict[DagsterRunStatus, RunState] = {
    DagsterRunStatus.QUEUED: "queued", DagsterRunStatus.NOT_STARTED: "queued",
    DagsterRunStatus.STARTING: "running", DagsterRunStatus.STARTED: "running",
    DagsterRunStatus.CANCELING: "running", DagsterRunStatus.SUCCESS: "succeeded",
    DagsterRunStatus.FAILURE: "failed", DagsterRunStatus.CANCELED: "failed",
}


class DagsterLauncher:
    """Submits runs to the instance at `home` (its dagster.yaml) for the workspace at `root`."""

    def __init__(self, root: Path, home: Path) -> None:
        if not (home / INSTANCE_FILE).is_file():
            raise ConfigError(f"DAGSTER_HOME={home} has no {INSTANCE_FILE}: copy the workspace's {INSTANCE_FILE} "
                              "there (it sets the run queue's limits) or unset ROOFTOP_API_DAGSTER")
        self.root = root
        self.home = home
        self._instance: DagsterInstance | None = None

    def new_run_id(self) -> str:
        return str(uuid.uuid4())

    def submit(self, connection: str, run_id: str, since: date | None = None) -> None:
        """Submit the connection's job as run `run_id`; raises RooftopError with dagster's own message."""
        config = {"ops": {f"{connection}_sync": {"config": {"since": since.isoformat()}}}} if since else {}
        workspace = self.root / "workspace.yaml"
        target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "pipelines.definitions"]
        command = [_dagster(), "job", "launch", *target, "-j", job_name(connection), "--run-id", run_id,
                   "--config-json", json.dumps(config), "--tags", json.dumps({"rooftop/started_by": "api"})]
        env = {**os.environ, "DAGSTER_HOME": str(self.home), WORKSPACE_ENV: str(self.root)}
        try:
            done = subprocess.run(command, env=env, cwd=self.root, capture_output=True, text=True,
                                  timeout=LAUNCH_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RooftopError(f"dagster job launch did not answer within {LAUNCH_TIMEOUT_SECONDS:.0f}s") from exc
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
            raise RooftopError(f"dagster job launch failed: {lines[-1] if lines else f'exit {done.returncode}'}")

    def status(self, run_id: str) -> tuple[RunState, str] | None:
        """(Rooftop's state, Dagster's status name) of the run, None while it is not in the instance yet."""
        run = self._get_instance().get_run_by_id(run_id)
        if run is None:
            return None
        return _STATES.get(run.status, "running"), run.status.value

    def _get_instance(self) -> DagsterInstance:
        if self._instance is None:
            self._instance = DagsterInstance.from_config(str(self.home))
        return self._instance


def _dagster() -> str:
    beside = Path(sys.executable).parent / "dagster"  # the venv's, matching the dagster imported here
    return str(beside) if beside.is_file() else (shutil.which("dagster") or "dagster")
