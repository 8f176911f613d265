"""A test run, passing or failing or with a crashed worker, leaves no server and no temp directory.

Runs a small suite in a child pytest (two xdist workers, each with its own real PostgreSQL server,
as `make test` does): one test fails, one kills its worker outright so that no fixture teardown runs.
Afterwards no process of that run is alive and its temp directory is gone, and the run names what
the safety net had to stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.support.cleanup import run_dir

ROOT = Path(__file__).resolve().parents[1]

SUITE = '''
import os
from tests.postgres_server import postgres_server  # noqa: F401 - fixture

def test_server_up(postgres_server):
    assert postgres_server.port

def test_fails(postgres_server):
    assert False, "a failing test"

def test_worker_dies(postgres_server):
    os._exit(3)  # like a worker killed by the OOM killer: no teardown runs
'''


@pytest.mark.slow
def test_a_failing_run_with_a_dead_worker_leaves_nothing_behind(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    # Not under tmp_path (0700, root's): the child's PostgreSQL servers run as `postgres`.
    tmp = Path(tempfile.mkdtemp(prefix="child-run-", dir=run_dir()))
    tmp.chmod(0o711)
    (suite / "test_child.py").write_text(textwrap.dedent(SUITE))
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT), "CI": "true"}  # CI: never skip
    env.pop("ROOFTOP_TEST_RUN_DIR", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "tests.support.cleanup",
                          "-p", "no:cacheprovider", "-q", str(suite / "test_child.py")],
                         cwd=suite, env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "FAILED test_child.py::test_fails" in output, output
    assert "crashed while running 'test_child.py::test_worker_dies'" in output, output
    assert "teardown did not run: stopped PostgreSQL pid" in output, output  # the dead worker's server
    assert list(tmp.iterdir()) == [], "temp directories left behind"
    stragglers = []
    for proc in psutil.process_iter():
        try:
            if str(tmp) in proc.environ().get("ROOFTOP_TEST_RUN_DIR", ""):
                stragglers.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    assert stragglers == []
