"""The `files` source's configuration, as users write it under `source.config`.

Apart from the source and importing no pyarrow, so that loading a workspace (`rooftop validate
--offline`, `status`, every code-location load) validates a files connection without the files
runtime: Rooftop finds `FilesConfig` through the `rooftop.source_configs` entry point
(pipelines.workspace.registry). A `columns:` type is checked here by name; `column_types` maps it
to its Arrow type when a sync reads.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Format = Literal["csv", "jsonl", "parquet"]
DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
COLUMN_TYPES = ("string", "int64", "int32", "float64", "bool", "date", "timestamp", "timestamptz", "json")
"""The type names `columns:` accepts besides decimal(p,s); connectors.files.column_types maps each."""


def check_type(name: str) -> str:
    """`name` if it is a column type `columns:` accepts, else a ValueError listing them."""
    if name.strip() in COLUMN_TYPES or DECIMAL.match(name.strip()):
        return name
    raise ValueError(f"unknown type {name!r}; use one of {', '.join(COLUMN_TYPES)} or decimal(p,s)")


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote_char: str = Field(default='"', min_length=1, max_length=1)
    header: bool = Field(default=True, description="false: columns are named f0, f1, …")
    null_values: list[str] = Field(default_factory=lambda: [""],
                                   description="Field values read as null (an unquoted empty field by default).")
    encoding: str = Field(default="utf8", description="Text encoding of the files, e.g. latin1.")


class FileStream(BaseModel):
    """One stream: every file matching `path`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The stream (table) name.")
    path: str = Field(description="A file or glob (`**` for sub-folders), relative to the workspace "
                                  "root, e.g. `exports/leases/*.csv.gz`.")
    format: Format | None = Field(default=None, description="csv, jsonl or parquet; default: from the "
                                  "extension (.csv/.tsv, .jsonl/.ndjson, .parquet), compression suffix aside.")
    primary_key: list[str] = Field(default_factory=list, description="Columns identifying a record.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Column types that override inference (CSV/JSONL), e.g. {rent: 'decimal(12,2)'}.")
    csv: CsvOptions = Field(default_factory=CsvOptions)

    @field_validator("columns")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for type_name in value.values():
            check_type(type_name)
        return value

    @field_validator("primary_key", mode="before")
    @classmethod
    def _single_key(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class FilesConfig(BaseModel):
    """Local CSV, JSON Lines and Parquet files (optionally .gz/.zst/.bz2 compressed)."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="files", description="The catalog's namespace (`namespace: source`).")
    streams: list[FileStream] = Field(min_length=1, description="One stream per file pattern.")
    batch_size: int = Field(default=65_536, ge=1, description="Rows per batch (CSV/JSONL/Parquet).")
    max_tracked_files: int = Field(
        default=10_000, ge=100,
        description="Incremental state remembers this many loaded files; older ones count as loaded.")

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[FileStream]) -> list[FileStream]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stream name(s) listed twice: {', '.join(duplicates)}")
        return value
