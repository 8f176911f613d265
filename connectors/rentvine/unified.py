"""Rentvine's streams as the unified tables (`model: unified`), from its OpenAPI field names.

Properties, units and work orders map one to one. A lease's resident is its first tenant (the
export lists them in `tenants` with their `contactID`, the id of the `tenants` stream); the others
stay in the lease's `vendor_fields`. Rentvine names a lease's state by `primaryLeaseStatusID`
(1 Pending, 2 Active, 3 Closed) beside an account-defined `leaseStatusID`; the primary one is
normalized. Work orders likewise by `primaryWorkOrderStatusID` (1 Pending, 2 Open, 3 Closed,
4 On Hold); units by `isVacant` (loaded as a boolean).
"""

from __future__ import annotations

from protocol.unified import Date, EnumDefault, Ref, TableMapping, UnifiedMapping

_WHEN = {"created_at": "dateTimeCreated", "updated_at": "dateTimeModified"}
_RESIDENT = "tenants.0"

UNIFIED_MAPPING = UnifiedMapping(tables={
    "properties": TableMapping(stream="properties", id="propertyID", columns={
        "name": "name", "property_type": "propertyTypeID", "address_line1": "address", "city": "city",
        "state": "stateID", "postal_code": "postalCode", **_WHEN}),
    "units": TableMapping(stream="units", id="unitID", columns={
        "property_id": Ref("properties", "propertyID"), "unit_number": "name", "bedrooms": "beds",
        "bathrooms": "fullBaths", "square_feet": "size", "market_rent": "rent", "status": "isVacant", **_WHEN},
        enums={"status": EnumDefault({"true": "VACANT", "false": "OCCUPIED"})}),
    "residents": TableMapping(stream="tenants", id="contactID", columns={
        "first_name": "firstName", "last_name": "lastName", "email": "email", "phone": "phone", **_WHEN}),
    "leases": TableMapping(stream="leases", id="leaseID", columns={
        "property_id": Ref("properties", "propertyID"), "unit_id": Ref("units", "unitID"),
        "resident_id": Ref("residents", f"{_RESIDENT}.contactID"), "status": "primaryLeaseStatusID",
        "start_date": Date("startDate"), "end_date": Date("endDate"), "move_in_date": Date("moveInDate"),
        "move_out_date": Date("moveOutDate"), **_WHEN},
        enums={"status": EnumDefault({"1": "PENDING", "2": "ACTIVE", "3": "INACTIVE"})}),
    "work_orders": TableMapping(stream="work_orders", id="workOrderID", columns={
        "property_id": Ref("properties", "propertyID"), "unit_id": Ref("units", "unitID"),
        "priority": "priorityID", "status": "primaryWorkOrderStatusID", "description": "description",
        "cost": "estimatedAmount", **_WHEN},
        enums={"status": EnumDefault({"1": "OPEN", "2": "OPEN", "3": "COMPLETED", "4": "OTHER"})}),
})
