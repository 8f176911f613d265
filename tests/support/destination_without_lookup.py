"""A third-party destination written before `record_exists` existed: DuckDB underneath, no id lookup.

Connections name it by reference (`destination: {connector: "tests.support.destination_without_lookup:
DuckDBWithoutLookup", ...}`), as a plugin under development would be. Everything but `record_exists`
is DuckDB's own, so syncs land real tables; write-back's bare-id lookup must cope without it.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from destinations.duckdb import DuckDBConfig, DuckDBDestination


class DuckDBWithoutLookup:
    name: ClassVar[str] = "duckdb_without_lookup"
    config_model: ClassVar[type[BaseModel]] = DuckDBConfig

    def __init__(self, config: Any, *, root: Path) -> None:
        self._inner = DuckDBDestination(config, root=root)

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        if name == "record_exists":
            raise AttributeError(name)  # the capability this destination predates
        return getattr(self._inner, name)
