"""Run `rooftop sync` in a child process and SIGKILL it at a chosen engine event.

The engine logs JSON events (flushed before the work they announce): sync_started,
commit_started, checkpoint_committed, … Killing right after one of them puts the crash before,
between or during checkpoints without sleeps or test hooks in the product code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def run_sync_until(root: Path, connection: str, want: dict[str, object] | None,
                   args: list[str] | None = None) -> int | None:
    """Sync `connection` (with extra `args`); SIGKILL it when a log event matches `want`.

    Returns the exit code, or None if it was killed."""
    cmd = [sys.executable, "-m", "pipelines.cli", "--workspace", str(root), "--log-format", "json",
           "sync", connection, *(args or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    for line in proc.stderr:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if want is not None and all(event.get(k) == v for k, v in want.items()):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return None
    return proc.wait()
