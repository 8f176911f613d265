"""Writes under the unified model's names: `PUT /v1/residents/{id}` on a Buildium or Rent Manager connection.

A caller of a `model: unified` connection knows the unified tables (`residents`, `first_name`),
while the vendor declares and sends its own (`tenants`, `FirstName`). Both sides are data already:
the vendor's `WriteDeclaration` says what it accepts, its `UnifiedMapping` says which native field
each unified column reads. `UnifiedWrites` joins them: a unified column is writable when it reads a
top-level native field (`"FirstName"`, `Date("DateOfBirth")`; not `PhoneNumbers.0.Number`, not a
foreign key) that the vendor accepts on the native stream the table reads. The result is a
declaration in unified names, so `validate_write` refuses (or with `ignore_unknown_fields`
strips) a field by the name the caller sent, and `to_native` renames the validated write for
`send_write`. A unified field keeps the native field's type and `choices` (Buildium's work-order
`status` takes only its task statuses, named `work_orders.status` in the refusal). An operation is
offered only when every field the vendor requires on it (a create's required fields) is mapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.unified import Ref, TableMapping, UnifiedMapping, column_path
from protocol.writes import ResourceWrites, ValidatedWrite, WriteDeclaration, WriteField, WriteOperation


@dataclass(frozen=True)
class _Table:
    native_resource: str
    fields: dict[str, str]
    """Unified column → native field, for every column any operation accepts."""


class UnifiedWrites:
    """The unified view of one vendor's write declaration (see the module docstring)."""

    def __init__(self, native: WriteDeclaration, mapping: UnifiedMapping) -> None:
        self.native = native
        self.mapping = mapping
        self._tables: dict[str, _Table] = {}
        resources: dict[str, ResourceWrites] = {}
        for table, spec in mapping.tables.items():
            writes = native.resources.get(spec.stream)
            if writes is None:
                continue
            fields = _writable_columns(spec)
            operations: dict[WriteOperation, dict[str, WriteField]] = {}
            for op, accepted in writes.operations.items():
                mapped = {column: accepted[name] for column, name in fields.items() if name in accepted}
                required = {name for name, f in accepted.items() if f.required}
                if mapped and required <= {fields[c] for c in mapped}:
                    operations[op] = mapped
            if operations:
                self._tables[table] = _Table(spec.stream, fields)
                resources[table] = ResourceWrites(operations, self.tables_reading(writes.refreshes(spec.stream)))
        self.declaration = WriteDeclaration(system=native.system, resources=resources)

    def tables_reading(self, streams: tuple[str, ...]) -> tuple[str, ...]:
        """The unified tables read from any of the native `streams` (what to re-read after a write)."""
        return tuple(table for table, spec in self.mapping.tables.items() if spec.stream in streams)

    def to_native(self, write: ValidatedWrite) -> ValidatedWrite:
        """The validated unified write as the vendor's resource and field names (ignored fields keep the caller's)."""
        table = self._tables[write.resource]
        payload = {table.fields[name]: value for name, value in write.payload.items()}
        return ValidatedWrite(table.native_resource, write.operation, payload, write.ignored)


def _writable_columns(spec: TableMapping) -> dict[str, str]:
    return {column: column_path(read) for column, read in spec.columns.items()
            if not isinstance(read, Ref) and "." not in column_path(read)}
