"""Where a sync's rows wait before their commit: `<warehouse>.staging/<id>/`, beside the warehouse.

DuckDB lets one process write a file at a time. If a sync wrote its rows into the warehouse as they
arrive, it would hold the file for its whole run, and ten syncs sharing one file would run one after
another (and an analyst's read-only session would block them all). So each open destination stages
rows in Arrow IPC files of its own, `<warehouse>.staging/<id>/<writer>-<n>.arrow`, and takes the
warehouse only to merge them in (writer.py). This module owns those directories:

- each holds `owner.lock`, `flock`ed by the process that staged there for as long as it is open;
  the kernel drops the lock when the process dies, so an unlocked directory belongs to no live
  sync and the next one to start removes it (a crash leaves the warehouse as it was, and no
  staging behind for long);
- `locks/<connection>.lock` keeps two syncs of one connection from running at once (the file
  lock no longer does): taken by `mark_interrupted`, held until the destination closes, so a
  `running` sync row found under it was left by a dead process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from protocol.errors import WarehouseLocked

log = logging.getLogger(__name__)

_OWNER = "owner.lock"
_LOCKS = "locks"
_SAFE_NAME = re.compile(r"[a-z0-9_]{1,63}")


def staging_root(warehouse: str) -> Path:
    return Path(f"{warehouse}.staging")


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class StagingDir:
    """This destination's own staging directory, locked while it lives; `close` removes it."""

    def __init__(self, warehouse: str) -> None:
        root = staging_root(warehouse)
        root.mkdir(parents=True, exist_ok=True)
        remove_dead_staging(root)
        name = uuid.uuid4().hex
        # Locked under a hidden name first, then renamed: a cleaner never sees it unlocked.
        hidden = root / f".{name}"
        hidden.mkdir()
        self._fd: int | None = os.open(hidden / _OWNER, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # new and ours alone: never waits
        self.path = root / name
        hidden.rename(self.path)

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)


def remove_dead_staging(root: Path) -> list[Path]:
    """Remove staging directories no live process holds (left by killed syncs); return them."""
    removed: list[Path] = []
    for directory in root.iterdir():
        if not directory.is_dir() or directory.name == _LOCKS or directory.name.startswith("."):
            continue
        try:
            fd = os.open(directory / _OWNER, os.O_RDWR)
        except FileNotFoundError:
            continue  # being removed by another cleaner
        try:
            if _try_flock(fd):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        finally:
            os.close(fd)
    if removed:
        log.info("removed staging of %d dead sync(s) under %s", len(removed), root,
                 extra={"event": "stale_staging_removed", "count": len(removed)})
    return removed


class ConnectionLock:
    """An exclusive `flock` on `<warehouse>.staging/locks/<connection>.lock` (see the module doc)."""

    def __init__(self, warehouse: str, connection: str) -> None:
        locks = staging_root(warehouse) / _LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        name = connection if _SAFE_NAME.fullmatch(connection) else hashlib.sha1(connection.encode()).hexdigest()
        self.path = locks / f"{name}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout_seconds: float, connection: str, warehouse: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout_seconds
        delay = 0.02
        while not _try_flock(fd):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.close(fd)
                raise WarehouseLocked(
                    f"another sync of {connection!r} is writing to DuckDB warehouse {warehouse}; gave up "
                    f"after {timeout_seconds:g}s (lock_timeout_seconds)")
            time.sleep(min(delay, remaining))  # flock has no timed wait: poll with backoff
            delay = min(delay * 2, 0.5)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor releases the flock
