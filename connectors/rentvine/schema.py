"""What the `rentvine` connector reads: its streams, their endpoints and declared schemas.

Rentvine's listings answer a bare JSON array in which every item wraps its record under its type
(`[{"lease": {...}, "balances": {...}, "unit": {...}}]`): `wrapper` names that key (rest_api's
`unwrap`), and the item's other objects are kept beside the record's fields as JSON columns (a
lease's `unit`, `property`, `balances`). Field names follow Rentvine's OpenAPI 3.1 spec
(docs.rentvine.com: `lease_export`, `balances`, `property_export`, `unit_export`) where it shows them;
the others are what the public clients read (docs/connectors/rentvine.md lists which are unverified).
Declaring them means `discover` costs no request and every column has its type from the first sync.
"""

from __future__ import annotations

from dataclasses import dataclass

CURSOR_FIELD = "dateTimeModified"
"""Every record carries it (UTC in the spec's examples); export listings filter on `dateTimeModifiedMin`."""
CURSOR_PARAM = "dateTimeModifiedMin"
PROPERTY_FIELD = "propertyID"

_WHEN = {"dateTimeCreated": "timestamp", "dateTimeModified": "timestamp"}

PROPERTIES = {
    "propertyID": "int64", "portfolioID": "int64", "propertyTypeID": "int64", "name": "string",
    "address": "string", "address2": "string", "city": "string", "stateID": "string", "postalCode": "string",
    "countryID": "string", "county": "string", "yearBuilt": "int64", "isActive": "bool",
    "isMultiUnit": "bool", "dateContractBegins": "date", "dateContractEnds": "date", "latitude": "float64",
    "longitude": "float64", "portfolio": "json", **_WHEN}
UNITS = {
    "unitID": "int64", "propertyID": "int64", "name": "string", "address": "string", "address2": "string",
    "city": "string", "stateID": "string", "postalCode": "string", "beds": "int64", "fullBaths": "int64",
    "halfBaths": "int64", "size": "int64", "rent": "decimal(12, 2)", "deposit": "decimal(12, 2)",
    "isVacant": "bool", "isActive": "bool", "dateAvailable": "date", "property": "json", **_WHEN}
LEASES = {
    "leaseID": "int64", "code": "string", "propertyID": "int64", "unitID": "int64",
    "primaryLeaseStatusID": "int64", "leaseStatusID": "int64", "moveInDate": "date", "moveOutDate": "date",
    "startDate": "date", "endDate": "date", "closedDate": "date", "expectedMoveOutDate": "date",
    "increaseEligibilityDate": "date", "tenants": "json",
    # The export item's other objects, beside the lease's own fields:
    "balances": "json", "unpaidCharges": "json", "property": "json", "unit": "json", "portfolio": "json",
    **_WHEN}
TENANTS = {
    "contactID": "int64", "contactTypeID": "int64", "name": "string", "firstName": "string",
    "middleName": "string", "lastName": "string", "email": "string", "phone": "string",
    "isActive": "bool", **_WHEN}
WORK_ORDERS = {
    "workOrderID": "int64", "workOrderNumber": "string", "propertyID": "int64", "unitID": "int64",
    "leaseID": "int64", "workOrderStatusID": "int64", "primaryWorkOrderStatusID": "int64", "priorityID": "int64",
    "sourceTypeID": "int64", "vendorContactID": "int64", "vendorTradeID": "int64", "description": "string",
    "estimatedAmount": "decimal(12, 2)", "scheduledStartDate": "date", "scheduledEndDate": "date",
    "actualStartDate": "date", "actualEndDate": "date", "dateClosed": "date", "isOwnerApproved": "bool",
    "isVacant": "bool", "contact": "json", "unit": "json", "property": "json", **_WHEN}


@dataclass(frozen=True)
class StreamDef:
    """One stream: its endpoint, the key its records are wrapped under, schema and capabilities."""

    name: str
    path: str
    wrapper: str
    key: str
    description: str
    schema: dict[str, str]
    server_filter: bool
    """The endpoint takes `dateTimeModifiedMin` (else the cursor is applied client-side after a full read)."""
    per_property_path: str | None = None
    """An endpoint listing one property's records (property selection without reading the others)."""
    property_field: bool = True
    """The records carry `propertyID` (else the stream belongs to no property and is always read in full)."""


STREAMS = (
    StreamDef("properties", "/properties/export", "property", "propertyID",
              "Properties (a house, or a multi-unit building), with their portfolio.", PROPERTIES, True),
    StreamDef("units", "/properties/units/export", "unit", "unitID", "Units, with their property.", UNITS, True,
              per_property_path="/properties/{property.propertyID}/units"),
    StreamDef("leases", "/leases/export", "lease", "leaseID",
              "Leases with their tenants, balances, unit, property and portfolio.", LEASES, True),
    StreamDef("tenants", "/tenants/search", "contact", "contactID", "Tenant contacts: the residents.", TENANTS,
              False, property_field=False),
    StreamDef("work_orders", "/maintenance/work-orders", "workOrder", "workOrderID",
              "Maintenance work orders, with their vendor contact and unit.", WORK_ORDERS, False),
)
STREAM_NAMES = tuple(s.name for s in STREAMS)
