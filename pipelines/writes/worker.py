"""Background sending of queued writes: one thread per write, one write at a time per connection.

The HTTP API answers 202 with the write id once a write is validated and recorded `queued`; the
send, the retries of the connection's HTTP client and the re-read happen here, and every outcome is
in `_rooftop.writes` (the worker keeps nothing a caller needs). Writes to one connection are sent
one after another, so a burst of writes queues behind the connection's rate limit instead of
racing it.

A write must never be left `running` silently. When the warehouse refuses the outcome (a Postgres
server gone, a full disk), the worker logs it at ERROR and keeps trying to append that outcome,
with backoff, for `RECORD_RETRY_SECONDS` or until the server stops; the write shows `running`
meanwhile. If it never gets through, the log says so, and the next API start marks the write
`needs_check` (it was sent: nobody re-sends it on their own). A write that could not even be
marked `running` was not sent: it stays `queued` and is sent when the API starts again. A bug of
ours while sending is recorded as `needs_check` the same way.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from pipelines.workspace.connection import LoadedConnection
from pipelines.writes.submit import PendingWrite, UnrecordedWrite, append_write_rows, execute_write, status_row
from protocol.errors import RooftopError

log = logging.getLogger(__name__)

RECORD_RETRY_SECONDS = 600.0
_FIRST_DELAY = 0.2
_MAX_DELAY = 10.0
BUG = "an unexpected error while sending ({}): check the source, then retry if the write did not land"


class WriteWorker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_connection: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, conn: LoadedConnection, pending: PendingWrite) -> None:
        """Send `pending` (already recorded `queued`) in a daemon thread."""
        thread = threading.Thread(target=self._run, args=(conn, pending), daemon=True,
                                  name=f"rooftop-write-{pending.result.write_id}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the writes still being sent (server shutdown); one left running is resolved at next start."""
        self._stopping.set()  # outcomes still waiting for the warehouse stop retrying
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _run(self, conn: LoadedConnection, pending: PendingWrite) -> None:
        with self._lock:
            serial = self._per_connection[conn.name]
        with serial:
            write_id = pending.result.write_id
            try:
                execute_write(conn, pending)
            except UnrecordedWrite as exc:
                log.error("%s", exc)
                if exc.row is not None:
                    self._record_late(conn, write_id, exc.row)
            except RooftopError:
                pass  # recorded as failed, with its error, by execute_write
            except Exception as exc:  # a bug of ours: recorded needs_check (sent or not, nobody knows), server up
                log.exception("write %s: unexpected error", write_id)
                pending.result.status = "needs_check"
                row = status_row(conn, pending, attempts=pending.attempts_before,
                                 error=BUG.format(type(exc).__name__))
                self._record_late(conn, write_id, row)

    def _record_late(self, conn: LoadedConnection, write_id: str, row: dict[str, Any]) -> None:
        """Append `row` once the warehouse takes it, retrying with backoff; log where it ends."""
        delay = _FIRST_DELAY
        waited = 0.0
        while True:
            try:
                append_write_rows(conn, [row])
            except Exception as exc:  # noqa: BLE001 - whatever the warehouse raises, keep trying, then say so
                if self._stopping.is_set() or waited >= RECORD_RETRY_SECONDS:
                    log.error("write %s: its outcome (%s) could not be recorded (%s); it shows as running and is "
                              "marked needs_check when the API starts again", write_id, row["status"],
                              conn.redactor(f"{type(exc).__name__}: {exc}"))
                    return
                self._stopping.wait(delay)  # backoff between tries, cut short by a shutdown
                waited += delay
                delay = min(delay * 2, _MAX_DELAY)
                continue
            log.warning("write %s: its outcome (%s) was recorded once the warehouse took it again",
                        write_id, row["status"])
            return
