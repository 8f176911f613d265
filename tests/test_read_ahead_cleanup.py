"""A stream that fails while its pages are still coming leaves no read-ahead thread behind.

rest_api reads each stream's next page in a thread of its own (connectors/rest_api/prefetch.py);
the thread stops when the engine closes the source's item iterator, which the engine does itself when a stream ends
(`runner._closing`). Left to the garbage collector, a failed stream's kept exception (in the sync
result with its traceback, and in Dagster, the API and the sync log) would keep the frame holding
the iterator alive, and with it the thread, polling with its HTTP connection open, for as long as
anyone kept the error.
"""

from __future__ import annotations

import threading

import pytest

from connectors.sandbox.server import SandboxServer
from pipelines.engine.observer import NullObserver
from pipelines.engine.runner import StreamResult, run_sync
from protocol.errors import SyncFailed
from tests.conftest import WorkspaceFactory, connection

CONN = """\
name: ahead
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 10}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams: [{{name: work_orders, sync_mode: full_refresh_overwrite}}]
"""


class FailingObserver(NullObserver):
    """Fails the stream at its third page, while the read-ahead thread waits with the next one."""

    def __init__(self) -> None:
        self.pages = 0

    def stream_progress(self, stream: str, result: StreamResult) -> None:
        self.pages += 1
        if self.pages == 3:
            raise RuntimeError("the observer gave up")


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rooftop-ahead-")]


def test_a_stream_failing_mid_read_leaves_no_read_ahead_thread(make_workspace: WorkspaceFactory,
                                                                sandbox: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=sandbox.url))
    with pytest.raises(SyncFailed) as failed:
        run_sync(connection(root, "ahead"), observer=FailingObserver())
    # The error, its traceback and the sync result are still referenced here, as a caller keeps them.
    assert "the observer gave up" in str(failed.value)
    assert _read_ahead_threads() == []
