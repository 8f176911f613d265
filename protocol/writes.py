"""Write-back: what a source system accepts when Rooftop writes to it, and the check before sending.

Systems differ in what they take (one PMS stores `notes` on a resident, another refuses the field;
few let a client create a unit), so each connector *declares* its writable resources as plain data
(`WriteDeclaration`, exposed as the Source attribute `write_resources`) and sends a validated write
itself (`send_write`, under the connection's own HTTP client, so its rate limit and retries apply).
`validate_write` runs before anything is sent: a field the target system does not accept is a
`ConfigError` naming the field and the system, or, with `ignore_unknown_fields`, is stripped and
reported back; a value of the wrong type, or outside the field's declared `choices`, is refused the
same way (naming the value and the values allowed), so a write the system would refuse is never
queued, recorded or sent. This module is the contract between the engine's write layer (`pipelines.writes`)
and the connectors; it knows nothing of HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from protocol.errors import ConfigError


class WriteOperation(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"


class FieldType(str, enum.Enum):
    """JSON types a writable field accepts (what a PMS's API validates, not the warehouse type)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"  # ISO-8601 text, "2024-03-01"


@dataclass(frozen=True)
class WriteField:
    type: FieldType
    required: bool = False
    """Must be sent with every write of the operation whose field set declares it: on a create's fields,
    required on create; on an update's, on every update (Propertyware's only update is a close, which
    must say `status: Closed`). Otherwise an update may send any subset."""
    choices: tuple[Any, ...] = ()
    """The only values the system takes (a task status, a priority), checked before anything is sent;
    empty: any value of `type`. A null is refused unless it is one of them."""


@dataclass(frozen=True)
class ResourceWrites:
    """One resource's write operations and the fields each accepts."""

    operations: Mapping[WriteOperation, Mapping[str, WriteField]]
    refresh_streams: tuple[str, ...] = ()
    """The streams to re-read after a successful write, when the record is not (only) in the stream
    named like the resource (Entrata's `customers` live inside `leases`); empty: the resource's own."""

    ids_in: Mapping[str, str] = field(default_factory=dict)
    """Where a record's id sits in other streams' rows, for finding a bare vendor id in the warehouse:
    stream -> dotted path, column first, then keys into its JSON (Entrata: `{"leases":
    "customers.customer.id"}`, a list matching if any element does). The resource's own stream is
    always searched by its primary key."""

    def refreshes(self, resource: str) -> tuple[str, ...]:
        return self.refresh_streams or (resource,)


@dataclass(frozen=True)
class WriteDeclaration:
    """Every writable resource of one source system (`system`: the connector name, e.g. "sandbox")."""

    system: str
    resources: Mapping[str, ResourceWrites] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidatedWrite:
    resource: str
    operation: WriteOperation
    payload: dict[str, Any]
    """What will be sent: the accepted fields only."""
    ignored: tuple[str, ...] = ()
    """Fields the target system does not accept, stripped because `ignore_unknown_fields` was set."""


@dataclass(frozen=True)
class WriteResponse:
    """What the source system answered to a write."""

    status: int
    record_id: str
    """The vendor's id of the record written (for a create: the new one)."""
    body: Any


@runtime_checkable
class WritableSource(Protocol):
    """A Source that can write back: optional, checked with isinstance at run time."""

    write_resources: WriteDeclaration

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """Send one validated write inside `with source:`; raises the protocol.errors classes."""


_PYTHON_TYPES: dict[FieldType, tuple[type, ...]] = {
    FieldType.STRING: (str,), FieldType.INTEGER: (int,), FieldType.NUMBER: (int, float),
    FieldType.BOOLEAN: (bool,), FieldType.DATE: (str,),
}


def _type_ok(value: Any, expected: FieldType) -> bool:
    if value is None:
        return True  # clearing a field; a required one is checked separately
    if isinstance(value, bool) and expected is not FieldType.BOOLEAN:
        return False  # bool is an int in Python, never in JSON
    return isinstance(value, _PYTHON_TYPES[expected])


def validate_write(declaration: WriteDeclaration, resource: str, operation: WriteOperation | str,
                   payload: Mapping[str, Any], ignore_unknown_fields: bool = False) -> ValidatedWrite:
    """The payload to send for this system, or a ConfigError naming the field (or resource) and the system."""
    system = declaration.system
    op = WriteOperation(operation)
    writes = declaration.resources.get(resource)
    if writes is None:
        writable = ", ".join(sorted(declaration.resources)) or "none"
        raise ConfigError(f"{system} does not accept writes to {resource!r} (writable resources: {writable})")
    fields = writes.operations.get(op)
    if fields is None:
        allowed = ", ".join(o.value for o in writes.operations) or "none"
        raise ConfigError(f"{system} does not allow {op.value} on {resource} (allowed: {allowed})")
    if not isinstance(payload, Mapping) or not payload:
        raise ConfigError(f"{resource}: the {op.value} payload must be a non-empty JSON object")
    unknown = tuple(name for name in payload if name not in fields)
    if unknown and not ignore_unknown_fields:
        raise ConfigError(f"{system} does not accept the field(s) {', '.join(unknown)} on {op.value} of {resource} "
                          f"(accepted: {', '.join(sorted(fields))}); pass ignore_unknown_fields to strip them")
    accepted = {name: value for name, value in payload.items() if name in fields}
    for name, value in accepted.items():
        spec = fields[name]
        if not _type_ok(value, spec.type) or (value is None and spec.required):
            raise ConfigError(f"{resource}.{name}: {system} expects {spec.type.value}"
                              f"{' (required)' if spec.required else ''}, got {type(value).__name__}")
        if spec.choices and value not in spec.choices:  # typed above: 1 never stands for true
            raise ConfigError(f"{resource}.{name}: {system} accepts only "
                              f"{', '.join(repr(c) for c in spec.choices)}, got {value!r}")
    missing = sorted(name for name, spec in fields.items() if spec.required and name not in accepted)
    if missing:
        raise ConfigError(f"{resource}: {system} requires the field(s) {', '.join(missing)} on {op.value}")
    if not accepted:
        raise ConfigError(f"{resource}: nothing left to send to {system} once {', '.join(unknown)} "
                          "were ignored")
    return ValidatedWrite(resource, op, accepted, unknown)


def with_nested_changes(body: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """`body` (a request message) with a write's fields set; a dotted name (`address.city`) sets one key
    of a nested object, for vendors whose messages nest what Rooftop declares as flat fields."""
    out = dict(body)
    for name, value in payload.items():
        parent, _, child = name.partition(".")
        if child:
            out[parent] = {**(out.get(parent) or {}), child: value}
        else:
            out[name] = value
    return out
