"""What each Entrata stream is: RPC method and version, service path, record path, key, declared fields.

Taken from Entrata's published API definition as generated into the public client
`mo05mAn/entrata_api_client` (method params and response models). Declared schemas mean discovery
sends no request. Nested objects Entrata answers (addresses, unit spaces, a lease's customers and
intervals) are kept whole as JSON text; dates Entrata writes as `MM/DD/YYYY` stay text (a `date`
column reads ISO only), except the leads cursor, which the manifest parses in Mountain Time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One stream: `POST <base_url><path>` with `{"method": {"name": name, "version": version, ...}}`."""

    path: str
    name: str
    version: str
    records: str
    primary_key: str
    description: str
    schema: dict[str, str]
    paged: bool
    """Entrata lists the method among its "pagination supported APIs" (page_no / per_page in the query)."""


PROPERTY_ID = "PropertyID"
"""The property record's id; child streams copy it into `propertyId`."""
LEAD_CURSOR = "lastUpdatedDate"

PROPERTIES = Method(
    path="/properties", name="getProperties", version="r1",
    records="response.result.PhysicalProperty.Property", primary_key=PROPERTY_ID, paged=False,
    description="Properties (getProperties r1): one request lists every property the key may read.",
    schema={"PropertyID": "int64", "ParentPropertyID": "int64", "MarketingName": "string", "Type": "string",
            "General_ID": "string", "YearBuilt": "string", "webSite": "string", "IsDisabled": "string",
            "IsFeaturedProperty": "string", "Address": "json", "ShortDescription": "json",
            "LongDescription": "json", "PostMonths": "json", "CustomKeysData": "json", "PropertyHours": "json"})

UNITS = Method(
    path="/propertyunits", name="getPropertyUnits", version="r1",
    records="response.result.properties.property.units.unit", primary_key="id", paged=False,
    description="Units of each property (getPropertyUnits r1, one call per property).",
    schema={"id": "int64", "propertyId": "int64", "unitNumber": "string", "buildingId": "int64",
            "buildingName": "string", "floorplanId": "int64", "floorplanName": "string", "unitTypeId": "int64",
            "unitTypeName": "string", "noOfBedrooms": "int64", "noOfBathrooms": "float64", "squareFeet": "int64",
            "isFurnished": "int64", "isCorportateRented": "int64", "numberOccupants": "int64", "maxPets": "int64",
            "unitAvailabilityURL": "string", "unitAddress": "json", "unitSpaces": "json"})

LEASES = Method(
    path="/leases", name="getLeases", version="r2",
    records="response.result.leases.lease", primary_key="id", paged=True,
    description="Leases of each property with their customers, unit spaces and intervals (getLeases r2, "
                "per property, paged); full refresh: the method has no modified-since filter.",
    schema={"id": "int64", "propertyId": "int64", "propertyName": "string", "leaseStatusTypeId": "int64",
            "leaseIntervalStatus": "string", "moveInDate": "string", "moveOutDate": "string",
            "transferDate": "string", "occupancyTypeId": "int64", "occupancyType": "string",
            "isMonthToMonth": "int64", "leaseIntervalId": "int64", "floorPlanId": "int64", "floorPlanName": "string",
            "paymentAllowanceType": "string", "spaceConfiguration": "string", "unitId": "int64",
            "customers": "json", "unitSpaces": "json", "leaseIntervals": "json"})

LEADS = Method(
    path="/leads", name="getLeads", version="r1",
    records="response.result.prospects.prospect", primary_key="applicationId", paged=True,
    description="Leads (prospects) of each property (getLeads r1, per property, paged), read in "
                "fromDate/toDate windows; incremental on lastUpdatedDate.",
    schema={"applicationId": "int64", "propertyId": "int64", "status": "string", "statusId": "int64",
            "leadSourceId": "int64", "leadSource": "string", "leasingAgentId": "int64", "leasingAgent": "string",
            "psProductId": "int64", "internetListingServiceId": "int64", "internetListingService": "string",
            LEAD_CURSOR: "timestamp", "createdOn": "string", "screeningResultStatus": "string",
            "spaceConfiguration": "string", "lease": "json", "customers": "json", "customerPreferences": "json",
            "events": "json"})

METHODS: dict[str, Method] = {"properties": PROPERTIES, "units": UNITS, "leases": LEASES, "leads": LEADS}
"""Stream name -> its method, in catalog order."""
