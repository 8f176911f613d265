"""The DuckDB destination's configuration, as users write it under `destination.config`.

Kept apart from the destination class so that the CLI (`rooftop connectors duckdb`, `rooftop
schema`) can show the spec without opening any file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from protocol.durations import Duration

DEFAULT_MEMORY_LIMIT = "256MB"
"""DuckDB's default (80% of RAM) let a sync's buffer pool grow with the rows one transaction
merged (a 2M-row full_refresh_append peaked at 355 MB, 281 MB with this limit, at the same CPU)."""

DEFAULT_THREADS = 1
"""A merge reads its staged rows as one Arrow stream, so DuckDB's other worker threads mostly wait
for it and its commit; on 2 cores a 200k-row full_refresh_overwrite's DuckDB work cost ~20 % more
CPU (and no less wall time, and ~25 MB more RSS) with one thread per core, and an
incremental_deduped merge of 200k stored keys no less wall time either."""


class DuckDBConfig(BaseModel):
    """Where the embedded warehouse lives and how the DuckDB process may use the machine."""

    # Unknown keys are errors so that a typo (`lock_timout_seconds`) is reported, not ignored.
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        default="warehouse.duckdb",
        description="The warehouse file. A relative path is relative to the workspace root. "
        "`:memory:` keeps everything in memory (tests only: nothing survives the process).",
    )
    lock_timeout_seconds: Duration = Field(
        default=60.0,
        ge=0,
        description="DuckDB lets one process write a file at a time, and a sync holds it only "
        "while it commits (it stages elsewhere): how long a commit or a read waits for other "
        "processes' commits (or a notebook holding the file) before failing with WarehouseLocked, "
        "which the runtime retries. Also how long a second sync of the same connection waits.",
    )
    memory_limit: str | None = Field(
        default=DEFAULT_MEMORY_LIMIT,
        description="DuckDB `memory_limit` of the sync's own DuckDB connection (the one that merges "
        "staged rows into the warehouse), e.g. `1GB` or `50%`; beyond it DuckDB spills to the sync's "
        "staging directory beside the warehouse. The default keeps a sync's memory flat however many "
        "rows it loads; `null` means DuckDB's own default (80% of RAM).",
    )
    threads: int | None = Field(
        default=DEFAULT_THREADS,
        ge=1,
        description="DuckDB worker threads of that connection; `null` means one per core. Default 1: "
        "a merge is fed by one Arrow stream, and more threads cost CPU without saving time.",
    )
    commit_every_rows: int = Field(
        default=100_000,
        ge=1,
        description="Commit the data and the latest state checkpoint once this many rows were "
        "written since the last commit, so a crash loses at most this much work.",
    )
