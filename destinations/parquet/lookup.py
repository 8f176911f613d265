"""Does a landed table hold a record? Read from the files its manifest lists, without any lock.

Write-back asks it of every candidate connection when a caller gives a bare vendor id. A Parquet
table's committed content is what its manifest lists (a rename publishes a new one), so a reader
needs no lock: it sees the old table or the new one. Only the one column is read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from destinations.json_paths import json_holds, like_pattern
from destinations.parquet.layout import Manifest, table_dir

_TRIES = 3


def record_exists(root: Path, namespace: str, table: str, column: str, value: str,
                  json_path: tuple[str, ...] = ()) -> bool:
    """Whether a row of `namespace.table` has `column` (compared as text) equal to `value`, or with
    `json_path`, holds `value` at that path of the JSON in `column` (destinations.json_paths)."""
    directory = table_dir(root, namespace, table)
    for _ in range(_TRIES):
        manifest = Manifest.load(directory)
        if manifest is None or column not in manifest.schema.names:
            return False
        try:
            return any(_in_file(directory / name, column, value, json_path) for name in manifest.files)
        except FileNotFoundError:
            continue  # a sync published a new manifest and removed an old file meanwhile: read the new one
    return False


def _in_file(path: Path, column: str, value: str, json_path: tuple[str, ...]) -> bool:
    if column not in pq.read_schema(path).names:
        return False  # written before the column was added: null there
    values = pc.cast(pq.read_table(path, columns=[column]).column(column), pa.string())
    if json_path:
        candidates = values if like_pattern(value) == "%" else values.filter(pc.match_substring(values, value))
        return any(json_holds(document, json_path, value) for document in candidates.to_pylist())
    return bool(pc.any(pc.equal(values, value)).as_py())
