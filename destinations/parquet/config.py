"""The Parquet destination's configuration, as users write it under `destination.config`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.durations import Duration


class ParquetConfig(BaseModel):
    """Where the Parquet lake lives and how its files are written."""

    # Unknown keys are errors so that a typo (`rows_per_fle`) is reported, not ignored.
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        default="lake",
        description="Root directory: one folder per namespace, one per table inside. A relative "
        "path is relative to the workspace root.")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = Field(
        default="zstd", description="Parquet column compression.")
    rows_per_file: int = Field(
        default=1_000_000, ge=1000,
        description="Start a new data file after this many rows (bounds rewrite cost of deduped tables).")
    commit_every_rows: int = Field(
        default=100_000, ge=1,
        description="Commit the data and the latest state checkpoint once this many rows were "
        "written since the last commit, so a crash loses at most this much work.")
    lock_timeout_seconds: Duration = Field(
        default=60.0, ge=0,
        description="Two syncs of one connection never write at once: how long the second waits "
        "for the first before failing with WarehouseLocked (retried).")
