"""What the `propertyware` connector reads: its streams, their endpoints and declared schemas.

Field names and types follow Propertyware's public OpenAPI 3.0 spec ("Open API, powered by
Propertyware", components `Portfolio`, `Building`, `Unit`, `Lease`, `Contact`, `WorkOrder`).
Declaring them means `discover` costs no request and every column has its type from the first
sync. Nested objects and lists (addresses, custom fields, a lease's contacts) are kept as JSON
text: their shapes vary per account (custom fields) and the unified model reads them as JSON.
Money the spec types as `double` is stored as an exact decimal.
"""

from __future__ import annotations

from dataclasses import dataclass

CURSOR_FIELD = "lastModifiedDateTime"
"""Every listed resource carries it (UTC) and filters on it with `lastModifiedDateTimeStart` (inclusive)."""
PROPERTY_FIELD = "buildingID"
"""A Propertyware building is the property; units, leases and work orders name theirs in this field."""


def _schema(**by_type: str) -> dict[str, str]:
    """Field → type from `type="field field …"` groups (the spec's fields, written compactly)."""
    arrow = {"int64": "int64", "text": "string", "flag": "bool", "day": "date", "instant": "timestamp",
             "real": "float64", "money": "decimal(14, 2)", "nested": "json"}
    return {name: arrow[kind] for kind, names in by_type.items() for name in names.split()}


_AUDIT = "createdBy lastModifiedBy"
_WHEN = "createdDateTime lastModifiedDateTime"
_SPACE = ("abbreviation category county maintenanceNotice maintenanceSpendingLimitTime name neighborhood searchTag "
          "status targetDeposit targetRentUnits type website areaUnits")

PORTFOLIOS = _schema(
    int64="id defaultBankAccountID defaultSecurityDepositBankAccountID ownerStatementReportID",
    text=f"name abbreviation cashAccrual defaultBankAccountNumberAndDescription stickyNote modifiedBy {_AUDIT} "
         "defaultSecurityDepositBankAccountNumberAndDescription maintenanceSpendingLimitTime",
    flag="active doNotPayOwnerDraw", day="closingDate", instant=_WHEN,
    money="maintenanceSpendingLimit targetOperatingReserve", nested="customFields owners")
BUILDINGS = _schema(
    int64="id portfolioID leaseID idNumber baseYear countUnit floorNumber moveInDays numberFloors numberOfBedrooms "
          "yearBuilt",
    text=f"{_SPACE} {_AUDIT} applicationFeeRule baseYearOperatingExpenses baseYearPropertyInsurance "
         "baseYearPropertyTaxes ftbWithholdingType maintenanceLaborSurchargeType multiUnit propertyType "
         "reasonForPropertyLost",
    flag="active featuredForRent ready rentable syndicate", instant=_WHEN,
    real="ftbDeductable ftbWithholdingPercentage numberOfBathrooms totalArea",
    money="targetRent maintenanceLaborSurchargeAmount maintenanceSpendingLimitAmount",
    nested="address amenities customFields management marketing propertyManagerList")
UNITS = _schema(
    int64="id buildingID portfolioID leaseID idNumber floorNumber numberFloors numberOfBedrooms yearBuilt",
    text=f"{_SPACE} {_AUDIT}", flag="active ready rentable syndicate", instant=_WHEN,
    real="numberOfBathrooms totalArea", money="targetRent",
    nested="address amenities customFields management marketing propertyManagerList")
LEASES = _schema(
    int64="id buildingID unitID portfolioID idNumber",
    text=f"leaseName status location comments lateFeeRule paymentRestriction publicAssistanceProgram "
         f"reasonForLeaving searchTag tenantsOptsIntoAssetProtectionPlan {_AUDIT}",
    flag="active", instant=_WHEN, money="baseRent arBalance leaseBalance",
    day="startDate endDate moveInDate moveOutDate noticeGivenDate scheduleMoveOutDate signedDate terminatedDate",
    nested="contacts addendums customFields")
TENANTS = _schema(
    int64="id",
    text=f"type firstName middleName lastName salutation suffix email altEmail homePhone mobilePhone workPhone "
         f"otherPhone fax company jobTitle category comments gender nameOnCheck {_AUDIT}",
    flag="allowESignature namedOnLease", day="birthDate", instant=_WHEN, nested="address customFields")
WORK_ORDERS = _schema(
    int64="id buildingID unitID portfolioID number age",
    text=f"status type priority category description location specificLocation lease managedBy requestedBy "
         f"requiredMaterials source contractNumber searchTag authorizeEnter maintenanceNotice {_AUDIT}",
    flag="approved publishToOwnerPortal publishToTenantPortal", instant=f"{_WHEN} dateToEnter",
    day="approvedDate completedDate scheduledEndDate startDate", real="hourEstimate", money="costEstimate",
    nested="assignedVendors customFields unitIDs")


@dataclass(frozen=True)
class StreamDef:
    """One stream: its endpoint, fixed query parameters, schema, and whether it is read per building."""

    name: str
    path: str
    description: str
    schema: dict[str, str]
    params: dict[str, str]
    per_building: bool = False


_DEACTIVATED = {"includeDeactivated": "true"}
"""Deactivated records are listed too, so a deactivation reaches the warehouse (active = false)."""

STREAMS = (
    StreamDef("portfolios", "/portfolios", "Portfolios (owner groupings of buildings).", PORTFOLIOS, _DEACTIVATED),
    StreamDef("buildings", "/buildings", "Buildings: the properties (a house, or a multi-unit building).",
              BUILDINGS, _DEACTIVATED),
    StreamDef("units", "/units", "Units of multi-unit buildings.", UNITS, _DEACTIVATED, per_building=True),
    StreamDef("leases", "/leases", "Leases, with their current tenants in `contacts`.", LEASES, {},
              per_building=True),
    StreamDef("tenants", "/contacts", "Contacts of type TENANT: the residents.", TENANTS, {"type": "TENANT"}),
    StreamDef("work_orders", "/workorders", "Work orders.", WORK_ORDERS, {}, per_building=True),
)
STREAM_NAMES = tuple(s.name for s in STREAMS)
