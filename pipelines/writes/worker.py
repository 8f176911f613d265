"""Background sending of queued writes: one thread per write, one write at a time per connection.

The HTTP API answers 202 with the write id once a write is validated and recorded `queued`; the
send, the retries of the connection's HTTP client and the re-read happen here, and every outcome is
in `_rooftop.writes` (the worker keeps nothing a caller needs). Writes to one connection are sent
one after another, so a burst of writes queues behind the connection's rate limit instead of
racing it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from pipelines.workspace.connection import LoadedConnection
from pipelines.writes.submit import PendingWrite, execute_write
from protocol.errors import RooftopError

log = logging.getLogger(__name__)


class WriteWorker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_connection: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._threads: list[threading.Thread] = []

    def start(self, conn: LoadedConnection, pending: PendingWrite) -> None:
        """Send `pending` (already recorded `queued`) in a daemon thread."""
        thread = threading.Thread(target=self._run, args=(conn, pending), daemon=True,
                                  name=f"rooftop-write-{pending.result.write_id}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the writes still being sent (server shutdown); one left running is resolved at next start."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _run(self, conn: LoadedConnection, pending: PendingWrite) -> None:
        with self._lock:
            serial = self._per_connection[conn.name]
        with serial:
            try:
                execute_write(conn, pending)
            except RooftopError:
                pass  # recorded as failed, with its error, by execute_write
            except Exception:  # a bug of ours: the write stays running (needs_check at next start), the server up
                log.exception("write %s: unexpected error", pending.result.write_id)
