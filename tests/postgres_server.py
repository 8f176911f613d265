"""A throwaway PostgreSQL server for the tests: real binaries, a temp data directory, 127.0.0.1.

Started once per pytest process (each xdist worker gets its own, on its own free port) from the
system's PostgreSQL 15 binaries, and stopped at the end of the session. `initdb` refuses to run as
root, so when the tests run as root the server runs as the `postgres` user in a directory it owns.

Without the binaries (a developer laptop without PostgreSQL) the Postgres tests are skipped with a
reason; under CI (`CI=true`) they must run, so a missing or broken server fails the session loudly.
Every test gets a fresh database (`postgres_url` fixture) so tests never see each other's tables.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.support.cleanup import run_dir

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                                                                  reverse=True)]
SUPERUSER = "rooftop"


def _pg_bin() -> Path | None:
    env = os.environ.get("ROOFTOP_PG_BIN")
    for candidate in [Path(env)] if env else PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; `url(db)` is a SQLAlchemy URL, `dsn(db)` a libpq connection string."""

    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def start(self) -> None:
        initdb = self._cmd(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                           "--auth=trust", "--encoding=UTF8", "--no-sync", "-N")
        subprocess.run(initdb, check=True, capture_output=True, text=True, cwd=self.data_dir.parent)
        # TCP only (no Unix socket: /var/run/postgresql may not exist and a socket path in a deep
        # temp dir exceeds the 107-byte limit); fsync off: the data is thrown away, and the tests
        # care about transactions, not about power loss.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
                   f"-c unix_socket_directories=''")
        start = self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                          "-l", str(self.data_dir / "server.log"), "-w", "-t", "60", "start")
        result = subprocess.run(start, capture_output=True, text=True, cwd=self.data_dir.parent)
        if result.returncode != 0:
            log = (self.data_dir / "server.log")
            detail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stdout}{result.stderr}\n{detail}")

    def stop(self) -> None:
        """Stop the server and make sure it is gone; raises if it had to be killed or would not die."""
        pid = self._postmaster_pid()
        result = subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m",
                                          "immediate", "-w", "-t", "30", "stop"), capture_output=True, text=True,
                                cwd=self.data_dir.parent)
        if pid is None:
            return
        try:
            server = psutil.Process(pid)
            if result.returncode == 0:
                server.wait(timeout=30)  # pg_ctl saw the pid file go; the process may still be exiting
                return
            server.kill()
            server.wait(timeout=30)
        except psutil.NoSuchProcess:
            return  # gone (pg_ctl's complaint was about a server that had already stopped)
        except psutil.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        raise RuntimeError(f"pg_ctl stop did not stop the server (exit {result.returncode}: "
                           f"{result.stderr.strip()}); it (pid {pid}) was killed")

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


def _start_server() -> tuple[PostgresServer, tempfile.TemporaryDirectory[str]]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) found; install "
                                "postgresql-15 (apt-get install postgresql-15) or set ROOFTOP_PG_BIN")
    tmp = tempfile.TemporaryDirectory(prefix="rooftop-pg-", dir=run_dir())
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres"
        user = pwd.getpwnam(run_as)
        os.chown(tmp.name, user.pw_uid, user.pw_gid)
    server = PostgresServer(bin_dir=bin_dir, data_dir=Path(tmp.name) / "data", port=_free_port(), run_as=run_as)
    if run_as:
        # initdb creates the directory itself; its parent must be writable by the server's user.
        Path(tmp.name).chmod(0o700)
    server.start()
    return server, tmp


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server, tmp = _start_server()
    except (FileNotFoundError, KeyError, RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the Postgres tests, but the server did not start: {exc} {detail}",
                        pytrace=False)
        pytest.skip(f"no PostgreSQL server for the tests: {exc} {detail}")
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            tmp.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A SQLAlchemy URL of a fresh, empty database on the session's server."""
    return postgres_server.url(postgres_server.create_database())
