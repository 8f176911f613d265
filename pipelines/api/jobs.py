"""Syncs, backsyncs and checks started over HTTP: run in a background thread, one at a time per connection.

The API answers at once with the job's id (for a sync, the engine's own sync id, so the same id
finds its history and structured log in the warehouse) and the caller polls `GET /v1/syncs/{id}`.
Jobs live in memory: after a restart, a sync is still found through the warehouse's history.

With `ROOFTOP_API_DAGSTER=1` (environment or the workspace `.env`) syncs and backsyncs are
instead submitted as Dagster runs to the instance at `DAGSTER_HOME`, so they wait in its run queue
under its limits and show in the UI; the job's id is then the Dagster run id and its status is read
from the instance. Checks always run here: they are not syncs. Only `pipelines.dagster` imports
dagster, so the launcher is imported when the option is on, never otherwise.
"""

from __future__ import annotations

import pkgutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pipelines.api.errors import ApiError
from pipelines.engine import collisions
from pipelines.engine.runner import new_sync_id, run_sync
from pipelines.workspace.loading import environment, load_workspace
from protocol.errors import ConfigError, RooftopError

Kind = Literal["sync", "backsync", "check"]
Status = Literal["queued", "running", "succeeded", "failed"]
DAGSTER_VARIABLE = "ROOFTOP_API_DAGSTER"
LAUNCHER = "pipelines.dagster.launch:DagsterLauncher"


class RunLauncher(Protocol):
    """What `pipelines.dagster.launch.DagsterLauncher` offers the API (typed here, imported lazily)."""

    def new_run_id(self) -> str: ...

    def submit(self, connection: str, run_id: str, since: date | None = None) -> None: ...

    def status(self, run_id: str) -> tuple[Status, str] | None: ...


def dagster_launcher(root: Path) -> RunLauncher | None:
    """The launcher when `ROOFTOP_API_DAGSTER` is on (`DAGSTER_HOME` must then hold a dagster.yaml), else None."""
    env = environment(root)
    if env.get(DAGSTER_VARIABLE, "").strip().lower() not in ("1", "true", "yes"):
        return None
    home = env.get("DAGSTER_HOME")
    if not home:
        raise ConfigError(f"{DAGSTER_VARIABLE} is set but DAGSTER_HOME is not: point it at the Dagster instance "
                          "(the directory with dagster.yaml) that the daemon or `rooftop ui` uses")
    # Resolved by name, as a plugin: the API layer never imports the Dagster front-end
    # (tests/test_architecture.py), and dagster is imported only when the option is on.
    launcher_class = pkgutil.resolve_name(LAUNCHER)
    launcher: RunLauncher = launcher_class(root, Path(home).resolve())
    return launcher


@dataclass
class Job:
    id: str
    connection: str
    kind: Kind
    status: Status
    started_at: str
    since: str | None = None
    finished_at: str | None = None
    error: str | None = None
    dagster_run_id: str | None = None
    dagster_status: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class JobRunner:
    """Starts jobs in daemon threads and remembers them; `redact` masks every error message it keeps."""

    def __init__(self, root: Path, redact: Callable[[str], str]) -> None:
        self.root = root
        self.redact = redact
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._running: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self.launcher = dagster_launcher(root)

    def start(self, connection: str, kind: Kind, since: date | None = None) -> Job:
        if self.launcher is not None and kind != "check":
            return self._submit(self.launcher, connection, kind, since)
        with self._lock:
            busy = self._running.get(connection)
            if busy is not None:
                raise ApiError(409, f"connection {connection!r} already has a {busy.kind} running ({busy.id}); "
                                    "poll it and start another when it has finished")
            job = Job(id=new_sync_id(), connection=connection, kind=kind, status="running",
                      started_at=datetime.now(UTC).isoformat(), since=since.isoformat() if since else None)
            self._jobs[job.id] = job
            self._running[connection] = job
        thread = threading.Thread(target=self._run, args=(job, since), name=f"rooftop-api-{kind}-{connection}",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def _submit(self, launcher: RunLauncher, connection: str, kind: Kind, since: date | None) -> Job:
        """A Dagster run: no per-connection refusal here, the run queue keeps runs of one connection apart."""
        run_id = launcher.new_run_id()
        job = Job(id=run_id, connection=connection, kind=kind, status="queued", dagster_run_id=run_id,
                  started_at=datetime.now(UTC).isoformat(), since=since.isoformat() if since else None)
        with self._lock:
            self._jobs[job.id] = job
        # Submitting loads the code location (seconds): done in a thread so the caller gets its id at once.
        thread = threading.Thread(target=self._launch, args=(launcher, job, since), daemon=True,
                                  name=f"rooftop-api-dagster-{connection}")
        self._threads.append(thread)
        thread.start()
        return job

    def _launch(self, launcher: RunLauncher, job: Job, since: date | None) -> None:
        try:
            launcher.submit(job.connection, job.id, since)
        except Exception as exc:  # noqa: BLE001 - reported on the job, never raised into the server
            error = str(exc) if isinstance(exc, RooftopError) else f"unexpected error: {type(exc).__name__}"
            with self._lock:
                job.status, job.error = "failed", self.redact(error)
                job.finished_at = datetime.now(UTC).isoformat()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.dagster_run_id is not None and job.error is None and job.finished_at is None:
            self._refresh(job)
        return job

    def _refresh(self, job: Job) -> None:
        """Read a Dagster run's status from the instance (absent while the launch is still submitting it)."""
        assert self.launcher is not None and job.dagster_run_id is not None
        found = self.launcher.status(job.dagster_run_id)
        if found is None:
            return
        with self._lock:
            job.status, job.dagster_status = found
            if job.status in ("succeeded", "failed") and job.finished_at is None:
                job.finished_at = datetime.now(UTC).isoformat()

    def of_connection(self, connection: str) -> list[Job]:
        with self._lock:
            jobs = [j for j in reversed(self._jobs.values()) if j.connection == connection]
        for job in jobs:
            if job.dagster_run_id is not None and job.error is None and job.finished_at is None:
                self._refresh(job)
        return jobs

    def join(self, timeout: float) -> None:
        """Wait for the jobs still running (server shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job: Job, since: date | None) -> None:
        status: Status = "failed"
        error: str | None = None
        try:
            workspace = load_workspace(self.root)
            conn = workspace.get(job.connection)
            if job.kind == "check":
                with conn.make_source() as source:
                    source.check()
                conn.make_destination().check()
            else:
                run_sync(conn, since=since, sync_id=job.id,
                         preflight=collisions.sync_preflight(list(workspace.connections.values()), conn))
            status = "succeeded"
        except RooftopError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug of ours fails this job (named by class), never the server
            error = f"unexpected error: {type(exc).__name__}"
        with self._lock:
            job.status = status
            job.error = self.redact(error) if error else None
            job.finished_at = datetime.now(UTC).isoformat()
            self._running.pop(job.connection, None)
