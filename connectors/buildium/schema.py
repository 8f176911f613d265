"""The declared schemas of the Buildium streams, field for field from the vendor's OpenAPI 3.0.

Declared rather than inferred so discovery costs no request and a field that happens to be null in
the first page still gets its column. Names and nesting are Buildium's own (`RentalMessage`,
`RentalUnitMessage`, `LeaseMessage`, `TenantMessage`, `WorkOrderMessage`); lists of objects
(a lease's tenants, a work order's line items) are kept as JSON text, single nested objects whose
shape is fixed (addresses, the work order's task) as structs.
"""

from __future__ import annotations

ADDRESS = ("struct<AddressLine1: string, AddressLine2: string, AddressLine3: string, City: string, "
           "State: string, PostalCode: string, Country: string>")

WATERMARK_FIELD = "LastUpdated"
"""The cursor column of the streams Buildium filters on `lastupdatedfrom` without returning an updated
time (rentals, units, tenants, work orders): null in every row; the sync's start time is the cursor."""

LEASE_CURSOR = "LastUpdatedDateTime"
"""Leases do carry their update time: a real cursor."""

SCHEMAS: dict[str, dict[str, str]] = {
    "rentals": {
        "Id": "int64", "Name": "string", "StructureDescription": "string", "NumberUnits": "int64",
        "IsActive": "bool", "OperatingBankAccountId": "int64", "Reserve": "float64", "Address": ADDRESS,
        "YearBuilt": "int64", "RentalType": "string", "RentalSubType": "string", "RentalManager": "json",
        WATERMARK_FIELD: "timestamp",
    },
    "units": {
        "Id": "int64", "PropertyId": "int64", "BuildingName": "string", "UnitNumber": "string",
        "Description": "string", "MarketRent": "float64", "Address": ADDRESS, "UnitBedrooms": "string",
        "UnitBathrooms": "string", "UnitSize": "int64", "IsUnitListed": "bool", "IsUnitOccupied": "bool",
        WATERMARK_FIELD: "timestamp",
    },
    "leases": {
        "Id": "int64", "PropertyId": "int64", "UnitId": "int64", "UnitNumber": "string",
        "LeaseFromDate": "date", "LeaseToDate": "date", "LeaseType": "string", "LeaseStatus": "string",
        "IsEvictionPending": "bool", "TermType": "string", "RenewalOfferStatus": "string",
        "CurrentTenants": "json", "CurrentNumberOfOccupants": "int64",
        "AccountDetails": "struct<SecurityDeposit: float64, Rent: float64>", "Cosigners": "json",
        "AutomaticallyMoveOutTenants": "bool", "CreatedDateTime": "timestamp", LEASE_CURSOR: "timestamp",
        "MoveOutData": "json", "PaymentDueDay": "int64", "Tenants": "json",
    },
    "tenants": {
        "Id": "int64", "FirstName": "string", "LastName": "string", "Email": "string",
        "AlternateEmail": "string", "PhoneNumbers": "json", "CreatedDateTime": "timestamp",
        "EmergencyContact": "struct<Name: string, RelationshipDescription: string, Phone: string, Email: string>",
        "DateOfBirth": "date", "SMSOptInStatus": "string", "Address": ADDRESS, "AlternateAddress": ADDRESS,
        "MailingPreference": "string", "Leases": "json", "Comment": "string", "TaxId": "string",
        WATERMARK_FIELD: "timestamp",
    },
    "work_orders": {
        "Id": "int64",
        "Task": ("struct<Id: int64, Type: string, UnitId: int64, "
                 "UnitAgreement: struct<Id: int64, Type: string, Href: string>, Title: string, "
                 "DueDate: date, Priority: string, Status: string>"),
        "Title": "string", "DueDate": "date", "Priority": "string", "Status": "string", "WorkDetails": "string",
        "InvoiceNumber": "string", "ChargeableTo": "string", "EntryAllowed": "string", "EntryNotes": "string",
        "VendorId": "int64", "VendorNotes": "string", "EntryContact": "json", "EntryContacts": "json",
        "BillTransactionId": "int64", "Amount": "float64", "LineItems": "json",
        WATERMARK_FIELD: "timestamp",
    },
}

DESCRIPTIONS: dict[str, str] = {
    "rentals": "Rental properties (GET /v1/rentals); the property list for property selection.",
    "units": "Rental units (GET /v1/rentals/units).",
    "leases": "Leases with their current tenants, cosigners and move-outs (GET /v1/leases).",
    "tenants": "Rental tenants (residents) with their leases (GET /v1/leases/tenants).",
    "work_orders": "Work orders and their task (GET /v1/workorders).",
}
