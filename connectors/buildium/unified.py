"""Buildium's streams as the unified tables (`model: unified`), field for field from its Open API.

Rentals are properties, tenants residents, work orders keep their task's unit. Buildium returns no
update time except on leases: the other tables' `updated_at` is the watermark column (null in the
rows; the sync's start time is their cursor). A lease's resident is its first tenant (the others,
with every other lease field, stay in `vendor_fields`: `Tenants` is read in part, so kept whole).
Default normalization: `LeaseStatus` Active → ACTIVE, Past → INACTIVE, Future → PENDING; units by
`IsUnitOccupied`; work orders New/Deferred/InProgress/Completed/Closed.
"""

from __future__ import annotations

from connectors.buildium.schema import LEASE_CURSOR, WATERMARK_FIELD
from protocol.unified import Date, EnumDefault, Ref, TableMapping, UnifiedMapping

_WATERMARK = {"updated_at": WATERMARK_FIELD}

UNIFIED_MAPPING = UnifiedMapping(tables={
    "properties": TableMapping(stream="rentals", id="Id", columns={
        "name": "Name", "property_type": "RentalSubType", "address_line1": "Address.AddressLine1",
        "city": "Address.City", "state": "Address.State", "postal_code": "Address.PostalCode",
        "unit_count": "NumberUnits", **_WATERMARK}),
    "units": TableMapping(stream="units", id="Id", columns={
        "property_id": Ref("properties", "PropertyId"), "unit_number": "UnitNumber", "square_feet": "UnitSize",
        "market_rent": "MarketRent", "status": "IsUnitOccupied", **_WATERMARK},
        enums={"status": EnumDefault({"true": "OCCUPIED", "false": "VACANT"})}),
    "residents": TableMapping(stream="tenants", id="Id", columns={
        "first_name": "FirstName", "last_name": "LastName", "email": "Email", "phone": "PhoneNumbers.0.Number",
        "date_of_birth": Date("DateOfBirth"), "created_at": "CreatedDateTime", **_WATERMARK}),
    "leases": TableMapping(stream="leases", id="Id", columns={
        "property_id": Ref("properties", "PropertyId"), "unit_id": Ref("units", "UnitId"),
        "resident_id": Ref("residents", "Tenants.0.Id"), "status": "LeaseStatus", "rent": "AccountDetails.Rent",
        "deposit": "AccountDetails.SecurityDeposit", "start_date": Date("LeaseFromDate"),
        "end_date": Date("LeaseToDate"), "move_in_date": Date("Tenants.0.MoveInDate"),
        "move_out_date": Date("MoveOutData.0.MoveOutDate"), "created_at": "CreatedDateTime",
        "updated_at": LEASE_CURSOR},
        enums={"status": EnumDefault({"Active": "ACTIVE", "Past": "INACTIVE", "Future": "PENDING"})}),
    "work_orders": TableMapping(stream="work_orders", id="Id", columns={
        "unit_id": Ref("units", "Task.UnitId"), "priority": "Priority", "status": "Status",
        "description": "WorkDetails", "cost": "Amount", **_WATERMARK},
        enums={"status": EnumDefault({"New": "OPEN", "Deferred": "OPEN", "InProgress": "IN_PROGRESS",
                                      "Completed": "COMPLETED", "Closed": "COMPLETED", "Cancelled": "CANCELLED"})}),
})
