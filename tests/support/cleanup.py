"""A test run leaves nothing behind: no server still running, no temp directory, pass or fail.

Fixture teardown is the first line (each PostgreSQL server is stopped by its session fixture), but
it does not run when an xdist worker crashes or is killed, and a `pg_ctl stop` that fails used to
be ignored. This plugin (loaded with `-p tests.support.cleanup`, see pyproject.toml) is the second
line, in the controlling pytest process:

- at start it makes one run directory (`rooftop-tests-*` in the temp dir) and exports it as
  `ROOFTOP_TEST_RUN_DIR`; every process the run starts (xdist workers, servers, CLI children)
  inherits that variable, and the fixtures put their temp directories (and pytest's `basetemp`)
  inside it;
- at the end, after the workers are gone, it stops every process still carrying this run's
  variable (PostgreSQL with `pg_ctl stop` first), removes the run directory, and fails the session
  naming what it had to stop: a teardown that did not run is a bug to see, not to hide.

Set `ROOFTOP_KEEP_TEST_TMP=1` to keep the run directory for a post-mortem.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Generator
from pathlib import Path

import psutil
import pytest

RUN_DIR_VAR = "ROOFTOP_TEST_RUN_DIR"
KEEP_VAR = "ROOFTOP_KEEP_TEST_TMP"
_state: dict[str, str] = {}


def run_dir() -> Path:
    """This run's directory (made by the controller; a worker or a bare import falls back to /tmp)."""
    return Path(os.environ.get(RUN_DIR_VAR) or tempfile.gettempdir())


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _is_controller(config):
        return
    path = Path(tempfile.mkdtemp(prefix="rooftop-tests-"))
    path.chmod(0o711)  # servers that run as another user (postgres) must reach their folders inside
    os.environ[RUN_DIR_VAR] = str(path)  # a nested run (a test of this plugin) gets its own
    _state["run_dir"] = str(path)
    if config.option.basetemp is None:
        config.option.basetemp = str(path / "basetemp")


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    yield  # after every other implementation: xdist has shut its workers down by then
    if not _is_controller(session.config) or "run_dir" not in _state:
        return
    leftovers = sweep(Path(_state["run_dir"]))
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "teardown did not run: stopped " + "; ".join(leftovers)
        if reporter is not None:
            reporter.write_line(text, red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    if _is_controller(config) and "run_dir" in _state and not os.environ.get(KEEP_VAR):
        shutil.rmtree(_state.pop("run_dir"), ignore_errors=True)


def sweep(path: Path) -> list[str]:
    """Stop every process of the run at `path`; describe each one that had to be stopped."""
    me = psutil.Process()
    # Workers exit on their own right after the session; wait for that, not for a fixed time.
    psutil.wait_procs([p for p in me.children() if not _interpreter_helper(p)], timeout=30)
    stopped: list[str] = []
    for pid_file in sorted(path.rglob("postmaster.pid")):
        description = _stop_postgres(pid_file)
        if description:
            stopped.append(description)
    others = [p for p in _processes_of_run(str(path)) if p.pid != me.pid and not _interpreter_helper(p)]
    # A process whose parent just exited (a worker's helper) may still be on its way out.
    _gone, survivors = psutil.wait_procs(others, timeout=10)
    for proc in survivors:
        try:
            stopped.append(f"pid {proc.pid} ({' '.join(proc.cmdline())[:120]})")
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(survivors, timeout=30)
    return stopped


def _interpreter_helper(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker / fork server: they live exactly as long as their parent."""
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return True
    return "multiprocessing.resource_tracker" in command or "multiprocessing.forkserver" in command


def _processes_of_run(path: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(RUN_DIR_VAR) == path:
                found.append(proc)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    return found


def _stop_postgres(pid_file: Path) -> str | None:
    """A PostgreSQL server left running in `pid_file`'s data directory, stopped; None if none was."""
    try:
        pid = int(pid_file.read_text().split()[0])
        server = psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        return None  # a stale file: the server is already gone
    description = f"PostgreSQL pid {pid} in {pid_file.parent}"
    try:
        server.send_signal(signal.SIGQUIT)  # immediate shutdown: children exit, shared memory is released
        server.wait(timeout=30)
    except psutil.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)
    except psutil.Error:
        pass
    return description
