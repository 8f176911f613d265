"""The Rent Manager 12 Web API streams as this connector reads them: resource, key, fields and types.

Declared schemas mean discovery costs no request and a first sync already has every column. The
field names are the API's own (PascalCase, `PropertyID`, `UpdateDate`), from public clients and
observations of the API (docs/connectors/rent_manager.md lists what is unverified). Rent Manager
returns naive local timestamps (`2024-03-05T10:00:00`); the connector's `timezone` says which zone
they are in, and they are stored as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

CURSOR_FIELD = "UpdateDate"
"""Every core Rent Manager model carries it, and `filters=UpdateDate,gt,<time>` filters on it."""
PROPERTY_FIELD = "PropertyID"


@dataclass(frozen=True)
class RmStream:
    """One stream: its Rent Manager resource (`/Properties`), key and declared fields."""

    name: str
    resource: str
    key: str
    description: str
    fields: dict[str, str]

    @property
    def per_property(self) -> bool:
        """Records belong to a property and the API lists one property's at /Properties/{id}/<resource>."""
        return self.resource != "Properties"


_AUDIT = {"CreateDate": "timestamp", "CreateUserID": "int64", "UpdateDate": "timestamp", "UpdateUserID": "int64"}

STREAMS: tuple[RmStream, ...] = (
    RmStream("properties", "Properties", "PropertyID", "Properties (buildings, communities, associations).", {
        "PropertyID": "int64", "Name": "string", "ShortName": "string", "PropertyType": "string",
        "IsActive": "bool", "Email": "string", "Phone": "string", "ConcurrencyID": "int64", **_AUDIT}),
    RmStream("units", "Units", "UnitID", "Rentable units of each property.", {
        "UnitID": "int64", "PropertyID": "int64", "UnitTypeID": "int64", "Name": "string", "Comment": "string",
        "SquareFootage": "float64", "IsVacant": "bool", **_AUDIT}),
    RmStream("tenants", "Tenants", "TenantID", "Tenant accounts (residents); Status is Current, Past or Future.", {
        "TenantID": "int64", "TenantDisplayID": "int64", "PropertyID": "int64", "Name": "string",
        "FirstName": "string", "LastName": "string", "Status": "string", "PostingStartDate": "timestamp",
        "PostingEndDate": "timestamp", **_AUDIT}),
    RmStream("leases", "Leases", "LeaseID", "Leases: a tenant in a unit between move-in and move-out.", {
        "LeaseID": "int64", "TenantID": "int64", "UnitID": "int64", "PropertyID": "int64",
        "MoveInDate": "timestamp", "MoveOutDate": "timestamp", "ExpectedMoveOutDate": "timestamp",
        "NoticeDate": "timestamp", "IsMoveOutConfirmed": "bool", "IsCommercial": "bool", **_AUDIT}),
    RmStream("service_manager_issues", "ServiceManagerIssues", "ServiceManagerIssueID",
             "Service Manager issues (work orders).", {
                 "ServiceManagerIssueID": "int64", "PropertyID": "int64", "UnitID": "int64", "TenantID": "int64",
                 "Title": "string", "Description": "string", "StatusID": "int64", "PriorityID": "int64",
                 "CategoryID": "int64", "OpenDate": "timestamp", "DueDate": "timestamp", "CloseDate": "timestamp",
                 "IsClosed": "bool", **_AUDIT}),
)

STREAM_NAMES = tuple(stream.name for stream in STREAMS)
