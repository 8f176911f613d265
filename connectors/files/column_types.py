"""The Arrow type of each column type name a `files` stream's `columns:` may give.

Apart from `config`, which checks the names without importing pyarrow (a workspace load validates
every connection); the source maps them here when it builds its catalog.
"""

from __future__ import annotations

import pyarrow as pa

from connectors.files.config import COLUMN_TYPES, DECIMAL, check_type

TYPE_NAMES: dict[str, pa.DataType] = {
    "string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(),
    "bool": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"), "json": pa.string(),
}
"""One entry per name of config.COLUMN_TYPES (checked below: config accepts exactly what this maps)."""

if set(TYPE_NAMES) != set(COLUMN_TYPES):
    raise RuntimeError(f"files column types out of step: config accepts {sorted(COLUMN_TYPES)}, "
                       f"column_types maps {sorted(TYPE_NAMES)}")


def parse_type(name: str) -> pa.DataType:
    """A column type as written in `columns:` (`int64`, `decimal(12,2)`, `timestamptz`, …)."""
    match = DECIMAL.match(check_type(name).strip())
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return TYPE_NAMES[name.strip()]
