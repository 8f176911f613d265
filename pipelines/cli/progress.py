"""Live per-stream progress for `rooftop sync`, and the summary table at the end.

On a terminal a Rich Live table shows each stream's rows and rows/s as batches land; elsewhere
(CI, pipes) it prints one line when a stream starts and one when it ends, so logs stay readable.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipelines.config.redact import Redactor
from pipelines.engine.runner import StreamResult, SyncResult

STATUS_STYLE = {"running": "yellow", "succeeded": "green", "failed": "red", "pending": "dim"}


def _rate(result: StreamResult) -> str:
    elapsed = result.duration_seconds or (time.monotonic() - result.started)
    return f"{result.rows_written / elapsed:,.0f}" if elapsed > 0 else "-"


def stream_table(title: str, results: list[StreamResult], redact: Redactor) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in [("stream", "left"), ("table", "left"), ("mode", "left"), ("status", "left"),
                            ("rows", "right"), ("rows/s", "right"), ("in table", "right"),
                            ("coercion errors", "right"), ("cursor", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(r.stream, r.table, r.sync_mode, f"[{style}]{r.status}[/]", f"{r.rows_written:,}", _rate(r),
                      "" if r.total_rows is None else f"{r.total_rows:,}", str(r.error_count),
                      redact("" if r.cursor is None else str(r.cursor)))
    return table


class ConsoleProgress:
    """A SyncObserver that renders to a Rich console."""

    def __init__(self, console: Console, redact: Redactor) -> None:
        self.console = console
        self.redact = redact
        self.live_mode = console.is_terminal
        self._lock = threading.Lock()
        self._results: dict[str, StreamResult] = {}
        self._live: Live | None = None
        self._connection = ""

    def sync_started(self, connection: str, sync_id: str, streams: list[str]) -> None:
        self._connection = connection
        self.console.print(f"[bold]{connection}[/]: sync {sync_id} — {len(streams)} stream(s)")
        if self.live_mode:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def stream_started(self, stream: str, result: StreamResult) -> None:
        with self._lock:
            self._results[stream] = result
        if not self.live_mode:
            self.console.print(f"  {stream}: started → {result.table} ({result.sync_mode})")
        self._refresh()

    def stream_progress(self, stream: str, result: StreamResult) -> None:
        self._refresh()

    def stream_finished(self, stream: str, result: StreamResult) -> None:
        if not self.live_mode:
            detail = f"{result.rows_written:,} rows in {result.duration_seconds:.1f}s ({_rate(result)} rows/s)"
            if result.error is not None:
                detail += f" — {self.redact(str(result.error))}"
            self.console.print(f"  {stream}: {result.status}, {detail}")
        self._refresh()

    def sync_finished(self, result: SyncResult) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self.console.print(stream_table(f"{result.connection} — sync {result.sync_id}", result.streams, self.redact))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            with self._lock:
                self._live.update(self._render())

    def _render(self) -> Table:
        return stream_table(self._connection, list(self._results.values()), self.redact)
