"""Rent Manager's streams as the unified tables (`model: unified`).

Tenants are residents, Service Manager issues work orders. What Rent Manager does not say in the
fields this connector reads stays null: a lease has no status of its own (a tenant account's
`Status` is per tenant, not per lease), so `leases.status_normalized` is null; an issue's status
and priority are customer-defined ids, so work orders are normalized by `IsClosed` alone (OPEN or
COMPLETED) and a connection's `enum_maps` can map them further. Units: `IsVacant`.
"""

from __future__ import annotations

from connectors.rent_manager.schema import CURSOR_FIELD
from protocol.unified import Date, EnumDefault, Ref, TableMapping, UnifiedMapping

_AUDIT = {"created_at": "CreateDate", "updated_at": CURSOR_FIELD}
_PROPERTY = {"property_id": Ref("properties", "PropertyID")}

UNIFIED_MAPPING = UnifiedMapping(tables={
    "properties": TableMapping(stream="properties", id="PropertyID", columns={
        "name": "Name", "code": "ShortName", "property_type": "PropertyType", **_AUDIT}),
    "units": TableMapping(stream="units", id="UnitID", columns={
        **_PROPERTY, "unit_number": "Name", "square_feet": "SquareFootage", "status": "IsVacant", **_AUDIT},
        enums={"status": EnumDefault({"true": "VACANT", "false": "OCCUPIED"})}),
    "residents": TableMapping(stream="tenants", id="TenantID", columns={
        "first_name": "FirstName", "last_name": "LastName", **_AUDIT}),
    "leases": TableMapping(stream="leases", id="LeaseID", columns={
        **_PROPERTY, "unit_id": Ref("units", "UnitID"), "resident_id": Ref("residents", "TenantID"),
        "start_date": Date("MoveInDate"), "move_in_date": Date("MoveInDate"), "move_out_date": Date("MoveOutDate"),
        "end_date": Date("ExpectedMoveOutDate"), **_AUDIT}),
    "work_orders": TableMapping(stream="service_manager_issues", id="ServiceManagerIssueID", columns={
        **_PROPERTY, "unit_id": Ref("units", "UnitID"), "status": "IsClosed", "description": "Description",
        "completed_at": "CloseDate", **_AUDIT},
        enums={"status": EnumDefault({"true": "COMPLETED", "false": "OPEN"})}),
})
