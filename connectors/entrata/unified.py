"""Entrata's streams as the unified tables (`model: unified`), from its API definition's field names.

getLeases r2 carries a lease's customers: the unified resident of a lease is its first customer
(Entrata lists the primary first; the others stay in the lease's `vendor_fields`), read from the
same native `leases` stream. Entrata writes dates as `MM/DD/YYYY`, which the unified `Date` column
(ISO only) cannot read, so lease and move dates stay in `vendor_fields` for now. Lease status is
the interval status: Current and Notice are ACTIVE, Future and Applicant PENDING, Past and
Cancelled INACTIVE; anything else OTHER.
"""

from __future__ import annotations

from protocol.unified import EnumDefault, Ref, TableMapping, UnifiedMapping

_RESIDENT = "customers.customer.0"

UNIFIED_MAPPING = UnifiedMapping(tables={
    "properties": TableMapping(stream="properties", id="PropertyID", columns={
        "name": "MarketingName", "code": "General_ID", "property_type": "Type",
        "address_line1": "Address.Address", "city": "Address.City", "state": "Address.State",
        "postal_code": "Address.PostalCode"}),
    "units": TableMapping(stream="units", id="id", columns={
        "property_id": Ref("properties", "propertyId"), "unit_number": "unitNumber", "bedrooms": "noOfBedrooms",
        "bathrooms": "noOfBathrooms", "square_feet": "squareFeet"}),
    "residents": TableMapping(stream="leases", id=f"{_RESIDENT}.id", columns={
        "first_name": f"{_RESIDENT}.firstName", "last_name": f"{_RESIDENT}.lastName",
        "email": f"{_RESIDENT}.emailAddress"}),
    "leases": TableMapping(stream="leases", id="id", columns={
        "property_id": Ref("properties", "propertyId"), "unit_id": Ref("units", "unitId"),
        "resident_id": Ref("residents", f"{_RESIDENT}.id"), "status": "leaseIntervalStatus"},
        enums={"status": EnumDefault({"Current": "ACTIVE", "Notice": "ACTIVE", "Future": "PENDING",
                                      "Applicant": "PENDING", "Past": "INACTIVE", "Cancelled": "INACTIVE"})}),
})
