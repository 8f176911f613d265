"""The unified model: one set of tables whatever property-management system a customer uses.

A connection with `model: unified` lands these tables instead of the vendor's own streams. This
module is the contract between the two sides that must agree on it: a vendor connector *declares*
how its native streams become these tables (a `UnifiedMapping`, plain data, as the class attribute
`unified_mapping` of its Source), and the adapter in `connectors.unified` *applies* that declaration
to the native record batches. Neither side may change a table here without the other noticing, so
the tables' columns and types live in one place (docs/unified-model.md describes them for users).

Every unified table has the same first columns:
- `id`: Rooftop's id of the record, `<source_system>:<connection>:<source_id>` (see `unified_id`):
  unique across every connection of a workspace (two customers on one vendor may reuse vendor ids)
  and stable across syncs, so write-back can find the connection and the vendor id from it alone;
- `source_system` (the connector name) and `source_id` (the vendor's own id, as text);
- foreign keys (`property_id`, `unit_id`, ...) hold unified ids of the table they point to;
- `status` keeps the vendor's own value, `status_normalized` its normalized one (`NORMALIZED`);
- `vendor_fields`: JSON of every native field no column of the mapping reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(12, 2)
ID_SEPARATOR = ":"

_HEAD = [("id", pa.string()), ("source_system", pa.string()), ("source_id", pa.string())]
_TAIL = [("created_at", TIMESTAMP), ("updated_at", TIMESTAMP), ("vendor_fields", pa.string())]

UNIFIED_TABLES: dict[str, pa.Schema] = {
    "properties": pa.schema([
        *_HEAD, ("name", pa.string()), ("code", pa.string()), ("property_type", pa.string()),
        ("address_line1", pa.string()), ("city", pa.string()), ("state", pa.string()),
        ("postal_code", pa.string()), ("unit_count", pa.int64()), *_TAIL,
    ]),
    "units": pa.schema([
        *_HEAD, ("property_id", pa.string()), ("unit_number", pa.string()), ("bedrooms", pa.int64()),
        ("bathrooms", pa.float64()), ("square_feet", pa.int64()), ("market_rent", MONEY),
        ("status", pa.string()), ("status_normalized", pa.string()), *_TAIL,
    ]),
    "residents": pa.schema([
        *_HEAD, ("first_name", pa.string()), ("last_name", pa.string()), ("email", pa.string()),
        ("phone", pa.string()), ("date_of_birth", pa.date32()), *_TAIL,
    ]),
    "leases": pa.schema([
        *_HEAD, ("property_id", pa.string()), ("unit_id", pa.string()), ("resident_id", pa.string()),
        ("status", pa.string()), ("status_normalized", pa.string()), ("rent", MONEY), ("deposit", MONEY),
        ("start_date", pa.date32()), ("end_date", pa.date32()), ("move_in_date", pa.date32()),
        ("move_out_date", pa.date32()), *_TAIL,
    ]),
    "work_orders": pa.schema([
        *_HEAD, ("property_id", pa.string()), ("unit_id", pa.string()), ("category", pa.string()),
        ("priority", pa.string()), ("status", pa.string()), ("status_normalized", pa.string()),
        ("description", pa.string()), ("cost", MONEY), ("completed_at", TIMESTAMP), *_TAIL,
    ]),
}

NORMALIZED: dict[str, dict[str, tuple[str, ...]]] = {
    "units": {"status": ("OCCUPIED", "VACANT", "NOTICE", "UNAVAILABLE", "OTHER")},
    "leases": {"status": ("ACTIVE", "INACTIVE", "PENDING", "EVICTED", "OTHER")},
    "work_orders": {"status": ("OPEN", "IN_PROGRESS", "COMPLETED", "CANCELLED", "OTHER")},
}
"""Per table, the fields with a normalized twin (`<field>_normalized`) and its vocabulary."""
NORMALIZED_DEFAULT = "OTHER"
GENERATED = ("id", "source_system", "source_id", "vendor_fields")
"""Columns the adapter builds itself; a mapping never names them."""


def normalized_column(field_name: str) -> str:
    return f"{field_name}_normalized"


def unified_id(source_system: str, connection: str, source_id: str) -> str:
    return ID_SEPARATOR.join((source_system, connection, source_id))


@dataclass(frozen=True)
class Ref:
    """A foreign key: the native value at `path` is a vendor id of unified `table`."""

    table: str
    path: str


@dataclass(frozen=True)
class Date:
    """A date from a value that may carry a time ("2024-03-01T00:00:00" → 2024-03-01)."""

    path: str


@dataclass(frozen=True)
class Timestamp:
    """A timestamp; values without a zone offset are wall-clock time in `zone` (stored as UTC)."""

    path: str
    zone: str = "UTC"


Column = str | Ref | Date | Timestamp
"""How one unified column is read: a plain string is a dot path into the native record
(`Address.City`; a number indexes a list: `Tenants.0.Id`)."""


def column_path(column: Column) -> str:
    return column if isinstance(column, str) else column.path


@dataclass(frozen=True)
class EnumDefault:
    """The default normalization of one field: vendor value → normalized value."""

    values: Mapping[str, str]
    default: str = NORMALIZED_DEFAULT


@dataclass(frozen=True)
class TableMapping:
    """How one native stream becomes one unified table."""

    stream: str
    """The native stream read for this table."""
    id: str
    """Dot path of the vendor's id of the record (becomes `source_id`, and `id` with the prefix)."""
    columns: Mapping[str, Column]
    """Unified column → how to read it; unified columns not named here are null."""
    enums: Mapping[str, EnumDefault] = field(default_factory=dict)
    """Field (one of NORMALIZED[table]) → its default normalization into `<field>_normalized`."""


@dataclass(frozen=True)
class UnifiedMapping:
    """What a vendor connector declares (`unified_mapping` on its Source class) to serve `model: unified`."""

    tables: Mapping[str, TableMapping]

    def problems(self) -> list[str]:
        """Everything wrong with the declaration (unknown tables, columns, enum fields or values)."""
        found: list[str] = []
        for name, table in self.tables.items():
            schema = UNIFIED_TABLES.get(name)
            if schema is None:
                found.append(f"unknown unified table {name!r} (tables: {', '.join(UNIFIED_TABLES)})")
                continue
            for column, spec in table.columns.items():
                if column not in schema.names or column in GENERATED:
                    found.append(f"{name}: {column!r} is not a column a mapping can fill")
                if isinstance(spec, Ref) and spec.table not in UNIFIED_TABLES:
                    found.append(f"{name}.{column}: reference to unknown table {spec.table!r}")
            vocab = NORMALIZED.get(name, {})
            for field_name, enum in table.enums.items():
                if field_name not in vocab:
                    found.append(f"{name}: {field_name!r} has no normalized column")
                    continue
                wrong = sorted({*enum.values.values(), enum.default} - set(vocab[field_name]))
                if wrong:
                    found.append(f"{name}.{field_name}: {', '.join(wrong)} not in {', '.join(vocab[field_name])}")
        return found
