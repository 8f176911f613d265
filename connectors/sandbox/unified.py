"""The sandbox's unified mapping: its native streams as the unified tables (`model: unified`).

The sandbox API is PMS-shaped already, so the mapping is mostly names; it is the reference for a
vendor's mapping: one `TableMapping` per table, dot paths for nested fields, foreign keys as `Ref`s,
and the default normalization of every status vocabulary in `connectors.sandbox.schema`.
"""

from __future__ import annotations

from protocol.unified import Date, EnumDefault, Ref, TableMapping, UnifiedMapping

_STAMPS = {"updated_at": "updated_at"}

UNIFIED_MAPPING = UnifiedMapping(tables={
    "properties": TableMapping(stream="properties", id="id", columns={
        "name": "name", "code": "code", "property_type": "property_type", "address_line1": "address.street",
        "city": "address.city", "state": "address.state", "postal_code": "address.zip",
        "unit_count": "unit_count", "created_at": "created_at", **_STAMPS}),
    "units": TableMapping(stream="units", id="id", columns={
        "property_id": Ref("properties", "property_id"), "unit_number": "unit_number", "bedrooms": "bedrooms",
        "bathrooms": "bathrooms", "square_feet": "square_feet", "market_rent": "market_rent", "status": "status",
        **_STAMPS}, enums={"status": EnumDefault({"Occupied": "OCCUPIED", "Vacant": "VACANT", "Notice": "NOTICE",
                                                  "Down": "UNAVAILABLE"})}),
    "residents": TableMapping(stream="residents", id="id", columns={
        "first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone",
        "date_of_birth": Date("date_of_birth"), **_STAMPS}),
    "leases": TableMapping(stream="leases", id="id", columns={
        "unit_id": Ref("units", "unit_id"), "resident_id": Ref("residents", "resident_id"), "status": "status",
        "rent": "rent", "deposit": "deposit", "start_date": Date("start_date"), "end_date": Date("end_date"),
        "move_in_date": Date("move_in_date"), **_STAMPS},
        enums={"status": EnumDefault({"Current": "ACTIVE", "Notice": "ACTIVE", "Past": "INACTIVE",
                                      "Future": "PENDING", "Evicted": "EVICTED"})}),
    "work_orders": TableMapping(stream="work_orders", id="id", columns={
        "property_id": Ref("properties", "property_id"), "unit_id": Ref("units", "unit_id"),
        "category": "category", "priority": "priority", "status": "status", "description": "description",
        "cost": "cost", "created_at": "created_at", "completed_at": "completed_at", **_STAMPS},
        enums={"status": EnumDefault({"Open": "OPEN", "Assigned": "OPEN", "InProgress": "IN_PROGRESS",
                                      "Completed": "COMPLETED", "Cancelled": "CANCELLED"})}),
})
