"""What the test sources share: nothing to open, close or check (protocol.types.Source's life cycle)."""

from __future__ import annotations

from typing import Any, Self


class NoSetup:
    """A source with no connection to open or close and nothing to check before a read."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def check(self) -> None:
        return None
