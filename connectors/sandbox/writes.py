"""What the sandbox PMS accepts on its write endpoints, in each of its two variants.

`full` is a permissive PMS (residents take free-text `notes`; units can be created); `limited`
behaves like a stricter one: no `notes` on residents and no creating units. The server checks each
write body against these declarations (a 400 naming the field, as a PMS would) and the `sandbox`
connector publishes the same declaration as its `write_resources`, so Rooftop refuses such a write
before sending it. One table, so the two can never disagree.
"""

from __future__ import annotations

from connectors.sandbox.config import Variant as Variant
from protocol.writes import FieldType, ResourceWrites, WriteDeclaration, WriteField, WriteOperation

VARIANTS: tuple[Variant, ...] = ("full", "limited")

_S, _I, _N, _D = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE
_RESIDENT = {"first_name": WriteField(_S), "last_name": WriteField(_S), "email": WriteField(_S),
             "phone": WriteField(_S), "date_of_birth": WriteField(_D)}
_UNIT = {"unit_number": WriteField(_S), "bedrooms": WriteField(_I), "bathrooms": WriteField(_N),
         "square_feet": WriteField(_I), "market_rent": WriteField(_N), "status": WriteField(_S)}
_WORK_ORDER = {"priority": WriteField(_S), "status": WriteField(_S), "description": WriteField(_S),
               "cost": WriteField(_N)}


def _required(fields: dict[str, WriteField], *names: str) -> dict[str, WriteField]:
    return {name: WriteField(spec.type, required=name in names) for name, spec in fields.items()}


def write_declaration(variant: Variant) -> WriteDeclaration:
    """The sandbox's writable resources in `variant`."""
    resident = dict(_RESIDENT) if variant == "limited" else {**_RESIDENT, "notes": WriteField(_S)}
    unit_ops = {WriteOperation.UPDATE: _UNIT}
    if variant == "full":
        unit_ops[WriteOperation.CREATE] = _required({"property_id": WriteField(_I), **_UNIT},
                                                    "property_id", "unit_number")
    work_order_create = _required({"property_id": WriteField(_I), "unit_id": WriteField(_I),
                                   "category": WriteField(_S), **_WORK_ORDER}, "property_id", "unit_id", "category")
    return WriteDeclaration(system="sandbox" if variant == "full" else "sandbox (limited)", resources={
        "residents": ResourceWrites({WriteOperation.UPDATE: resident,
                                     WriteOperation.CREATE: _required(resident, "first_name", "last_name")}),
        "units": ResourceWrites(unit_ops),
        "work_orders": ResourceWrites({WriteOperation.UPDATE: _WORK_ORDER,
                                       WriteOperation.CREATE: work_order_create}),
    })
