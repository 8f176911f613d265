"""How the engine reports progress without knowing who is watching.

The CLI renders a live table, Dagster logs events and adds metadata, tests may collect; all of them
implement `SyncObserver`. Calls come from stream worker threads, so implementations must be
thread-safe and fast (they sit on the hot path between batches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pipelines.engine.runner import StreamResult, SyncResult


class SyncObserver(Protocol):
    def sync_started(self, connection: str, sync_id: str, streams: list[str]) -> None: ...
    def stream_started(self, stream: str, result: StreamResult) -> None: ...
    def stream_progress(self, stream: str, result: StreamResult) -> None: ...
    def stream_finished(self, stream: str, result: StreamResult) -> None: ...
    def sync_finished(self, result: SyncResult) -> None: ...


class NullObserver:
    def sync_started(self, connection: str, sync_id: str, streams: list[str]) -> None:
        return None

    def stream_started(self, stream: str, result: StreamResult) -> None:
        return None

    def stream_progress(self, stream: str, result: StreamResult) -> None:
        return None

    def stream_finished(self, stream: str, result: StreamResult) -> None:
        return None

    def sync_finished(self, result: SyncResult) -> None:
        return None
