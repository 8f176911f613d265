"""The on-disk layout of a Parquet lake, and the only two ways anything in it changes.

    <root>/<namespace>/<table>/part-*.parquet          the table's data files
    <root>/<namespace>/<table>/_rooftop_manifest.json  which of them make up the table, its schema,
                                                       and the state of the stream(s) writing it
    <root>/<namespace>/<table>/_staging/               files of commits in progress
    <root>/_rooftop/syncs/<connection>/*.json          the sync log, one file per stream per sync
    <root>/_rooftop/<meta table>/<connection>/*.parquet the other `_rooftop` tables (see `bookkeeping.py`)
    <root>/_rooftop/locks/<connection>.lock            held by the process syncing the connection

Every file is written to a temporary name, flushed to disk and renamed into place, so no reader
sees half a file. The manifest is the commit point of a table: data files are put in place first,
then one rename of the manifest makes them part of the table together with the state that covers
them ("state stored next to the data and written after it"). A data file that no manifest lists is
a leftover of a crashed commit; the next `prepare` of the table deletes it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from protocol.errors import ConfigError, WarehouseLocked
from protocol.types import META_SCHEMA, SyncRecord

MANIFEST = "_rooftop_manifest.json"
STAGING = "_staging"
_UNSAFE = set('/\\%\x00*?[]{}')
"""Path separators, NUL, and glob characters (DuckDB's `read_parquet` expands them in paths)."""


def dir_name(name: str) -> str:
    """A directory name for a namespace or table: the name itself, with only the characters a
    file system cannot hold (and a leading dot, which would hide it or mean `..`) percent-encoded."""
    if not name:
        raise ConfigError("a namespace or table name cannot be empty")
    out = "".join(f"%{ord(c):02X}" if c in _UNSAFE or ord(c) < 32 else c for c in name)
    return "%2E" + out[1:] if out.startswith(".") else out


def table_dir(root: Path, namespace: str, table: str) -> Path:
    if namespace == META_SCHEMA:
        raise ConfigError(f"namespace {META_SCHEMA!r} is reserved for Rooftop's own files")
    return root / dir_name(namespace) / dir_name(table)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_file(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


@dataclass
class Manifest:
    """The committed content of one table."""

    schema: pa.Schema
    files: list[str] = field(default_factory=list)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """connection → stream → {"state": …, "sync_id": …, "committed_at": …}."""
    diff_commits: dict[str, dict[str, str]] = field(default_factory=dict)
    """connection → stream → token of the last merge that recorded diffs: saving the manifest is
    what commits that merge's staged diff file (see `bookkeeping.DiffJournal`)."""

    def to_json(self) -> bytes:
        return json.dumps({
            "format": 1,
            "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
            "columns": [[f.name, str(f.type)] for f in self.schema],  # for humans and other tools
            "files": self.files,
            "streams": self.streams,
            "diff_commits": self.diff_commits,
            "committed_at": datetime.now(UTC).isoformat(),
        }, indent=1, sort_keys=True).encode()

    @classmethod
    def load(cls, directory: Path) -> Manifest | None:
        path = directory / MANIFEST
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw["schema"])))
        return cls(schema=schema, files=list(raw["files"]), streams=dict(raw.get("streams", {})),
                   diff_commits=dict(raw.get("diff_commits", {})))

    def save(self, directory: Path) -> None:
        atomic_write_bytes(directory / MANIFEST, self.to_json())

    def set_state(self, connection: str, stream: str, state: Any, sync_id: str) -> None:
        self.streams.setdefault(connection, {})[stream] = {
            "state": state, "sync_id": sync_id, "committed_at": datetime.now(UTC).isoformat()}


def manifests(root: Path) -> list[tuple[Path, Manifest]]:
    found = []
    for path in sorted(root.glob(f"*/*/{MANIFEST}")):
        if path.parts[-3] == META_SCHEMA:
            continue
        manifest = Manifest.load(path.parent)
        if manifest is not None:
            found.append((path.parent, manifest))
    return found


def collect_garbage(directory: Path, manifest: Manifest | None) -> None:
    """Delete data files no manifest lists and staging leftovers: remains of crashed commits."""
    if not directory.exists():
        return
    listed = set(manifest.files) if manifest else set()
    for path in directory.glob("*.parquet"):
        if path.name not in listed:
            path.unlink()
    for path in directory.glob(".*.tmp"):
        path.unlink()
    staging = directory / STAGING
    if staging.exists():
        for path in staging.iterdir():
            path.unlink()


class ConnectionLock:
    """An exclusive `flock` on `<root>/_rooftop/locks/<connection>.lock`, released by the kernel
    when the holding process dies, so a `running` sync found under it was left by a dead one."""

    def __init__(self, root: Path, connection: str) -> None:
        locks = root / META_SCHEMA / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        self.path = locks / f"{hashlib.sha1(connection.encode()).hexdigest()[:20]}.lock"
        self._fd: int | None = None

    def acquire(self, timeout_seconds: float, label: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout_seconds
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.close(fd)
                    raise WarehouseLocked(
                        f"another sync of {label!r} is writing to this Parquet lake; gave up after "
                        f"{timeout_seconds:g}s (lock_timeout_seconds)") from None
                # Polling with backoff: flock has no timed wait.
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock


class SyncLog:
    """`_rooftop/syncs/<connection>/<hash of sync id + stream>.json`, one file per row."""

    def __init__(self, root: Path) -> None:
        self.root = root / META_SCHEMA / "syncs"

    def _dir(self, connection: str) -> Path:
        return self.root / hashlib.sha1(connection.encode()).hexdigest()[:20]

    def write(self, record: SyncRecord) -> None:
        directory = self._dir(record.connection)
        directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(f"{record.sync_id}\x00{record.stream}".encode()).hexdigest()[:24]
        payload = {
            "connection": record.connection, "stream": record.stream, "sync_id": record.sync_id,
            "started_at": record.started_at.isoformat(),
            "finished_at": record.finished_at.isoformat() if record.finished_at else None,
            "status": record.status, "rows_read": record.rows_read, "rows_written": record.rows_written,
            "error_count": record.error_count, "error_message": record.error_message,
            "extra": dict(record.extra),
        }
        # default=str: `extra` is free-form metadata for humans (durations, cursors as datetimes).
        atomic_write_bytes(directory / f"{name}.json", json.dumps(payload, default=str).encode())

    def prune(self, connection: str, keep: int = 2000) -> None:
        """Delete all but the newest `keep` rows of a connection (the log is a folder of files)."""
        directory = self._dir(connection)
        files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if directory.exists() else []
        for path in files[: max(0, len(files) - keep)]:
            path.unlink(missing_ok=True)

    def prune_before(self, connection: str, before: datetime) -> int:
        """Delete the rows of `connection` that started before `before`; return how many."""
        directory = self._dir(connection)
        count = 0
        for path in directory.glob("*.json") if directory.exists() else []:
            try:
                started = _utc(datetime.fromisoformat(json.loads(path.read_bytes())["started_at"]))
            except FileNotFoundError:
                continue  # rewritten or pruned meanwhile
            if started < _utc(before):
                path.unlink(missing_ok=True)
                count += 1
        return count

    def read(self, connection: str) -> list[SyncRecord]:
        directory = self._dir(connection)
        records = []
        for path in directory.glob("*.json") if directory.exists() else []:
            raw = json.loads(path.read_bytes())
            records.append(SyncRecord(
                connection=raw["connection"], stream=raw["stream"], sync_id=raw["sync_id"],
                started_at=datetime.fromisoformat(raw["started_at"]),
                finished_at=datetime.fromisoformat(raw["finished_at"]) if raw["finished_at"] else None,
                status=raw["status"], rows_read=raw["rows_read"], rows_written=raw["rows_written"],
                error_count=raw["error_count"], error_message=raw["error_message"], extra=raw["extra"]))
        records.sort(key=lambda r: r.stream)
        records.sort(key=lambda r: r.started_at, reverse=True)  # stable: newest first, then by stream
        return records


def _utc(value: datetime) -> datetime:
    """Naive times are taken as UTC (how Rooftop writes them), so old and new rows compare."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
