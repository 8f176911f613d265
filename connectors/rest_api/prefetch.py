"""Read ahead: a stream's next page is fetched and parsed while the engine loads the current one.

`prefetched(items)` runs the source's item iterator (HTTP, parsing, conversion to Arrow, cursor
tracking) in its own thread and hands its items over through a queue of `depth` slots, so at most
`depth` + 2 pages are in memory at once (one being built, `depth` waiting, one being loaded): memory
stays flat whatever the stream's size. Arrow's JSON reader, httpx's socket reads and DuckDB's
inserts release the GIL, so the two threads really overlap.

Failures travel both ways at once: an exception in the reading thread is raised in the consumer at
its next item (with its traceback); a consumer that stops early (an error while loading, a closed
generator) sets `stop`, the reading thread closes the source's iterator at its next item (its
`finally` blocks run there) and the consumer waits for that thread to end, so none outlives its
stream. The reading thread runs in a copy of the consumer's context variables: its log records
belong to the same sync (`pipelines.engine.sync_log`).
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

PREFETCH_DEPTH = 1
"""Items read ahead of the consumer (each is a page, or a checkpoint)."""
_POLL_SECONDS = 0.05
"""How often a reader blocked on a full queue looks whether the consumer has gone."""


class _End:
    """Put after the last item: the iterator finished, or raised `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = PREFETCH_DEPTH, name: str = "rooftop-prefetch") -> Iterator[T]:
    """`items`, produced in another thread up to `depth` ahead (see the module docstring)."""
    slots: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer(_End(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        offer(_End())

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(produce,), name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):  # free a blocked reader now rather than at its next poll
                slots.get(timeout=_POLL_SECONDS)
        thread.join()
