"""Syncs, backsyncs and checks started over HTTP: run in a background thread, one at a time per connection.

The API answers at once with the job's id (for a sync, the engine's own sync id, so the same id
finds its history and structured log in the warehouse) and the caller polls `GET /v1/syncs/{id}`.
Jobs live in memory: after a restart, a sync is still found through the warehouse's history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pipelines.api.errors import ApiError
from pipelines.engine import collisions
from pipelines.engine.runner import new_sync_id, run_sync
from pipelines.workspace.loading import load_workspace
from protocol.errors import RooftopError

Kind = Literal["sync", "backsync", "check"]
Status = Literal["running", "succeeded", "failed"]


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

    def start(self, connection: str, kind: Kind, since: date | None = None) -> Job:
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

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def of_connection(self, connection: str) -> list[Job]:
        with self._lock:
            return [j for j in reversed(self._jobs.values()) if j.connection == connection]

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
