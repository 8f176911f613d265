"""The `files` source's configuration, as users write it under `source.config`."""

from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

Format = Literal["csv", "jsonl", "parquet"]
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
TYPE_NAMES: dict[str, pa.DataType] = {
    "string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(),
    "bool": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"), "json": pa.string(),
}


def parse_type(name: str) -> pa.DataType:
    """A column type as written in `columns:` (`int64`, `decimal(12,2)`, `timestamptz`, …)."""
    match = _DECIMAL.match(name.strip())
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    try:
        return TYPE_NAMES[name.strip()]
    except KeyError:
        raise ValueError(f"unknown type {name!r}; use one of {', '.join(TYPE_NAMES)} or decimal(p,s)") from None


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
            parse_type(type_name)
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
