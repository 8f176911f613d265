"""What Buildium accepts when Rooftop writes to it, and how a write becomes Buildium's request.

From Buildium's OpenAPI 3.0 (v1): `PUT /v1/leases/tenants/{tenantId}` (RentalTenantPutMessage),
`PUT /v1/rentals/units/{unitId}` (RentalUnitPutMessage), `PUT /v1/workorders/{workOrderId}`
(WorkOrderPutMessage) and `POST /v1/workorders` (WorkOrderPostMessage). Buildium has no create for
units or tenants under these paths (a tenant is created with its lease). A work order's `Status`,
`Priority`, `Title` and `DueDate` live on its *task*, not in the work order's PUT body: an update of
them (closing a work order is `Status: "Closed"`) is a PUT of the task (connectors/buildium/tasks.py).

Buildium's PUTs are full replacements with required fields (a tenant's FirstName, LastName and
Address; a unit's UnitNumber and Address; a work order's EntryAllowed and VendorId; and a work
order's LineItems are "removed and replaced with this list"), while a Rooftop update sends a subset.
So an update reads the record (GET of the same path), turns it into the PUT shape, applies the
change and PUTs the whole body, every request through the connection's HTTP client (rate limit,
retries). Field names are Buildium's; `PhoneNumbers.Mobile` style names address a key of a nested
object (the PUT takes phone numbers as an object `{Home, Work, Mobile, Fax}`, the GET returns a list
of `{Number, Type}`).
"""

from __future__ import annotations

from typing import Any

from connectors.buildium.tasks import CHOICES, TASK_FIELDS, task_changes, update_task
from connectors.http.client import HttpClient
from protocol.errors import ConfigError
from protocol.writes import (
    FieldType,
    ResourceWrites,
    ValidatedWrite,
    WriteDeclaration,
    WriteField,
    WriteOperation,
    WriteResponse,
    with_nested_changes,
)

_S, _I, _N, _D = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE

TENANT_UPDATE = {"FirstName": WriteField(_S), "LastName": WriteField(_S), "Email": WriteField(_S),
                 "AlternateEmail": WriteField(_S), "DateOfBirth": WriteField(_D), "Comment": WriteField(_S),
                 "TaxId": WriteField(_S), "MailingPreference": WriteField(_S),
                 "PhoneNumbers.Home": WriteField(_S), "PhoneNumbers.Work": WriteField(_S),
                 "PhoneNumbers.Mobile": WriteField(_S), "PhoneNumbers.Fax": WriteField(_S)}
UNIT_UPDATE = {"UnitNumber": WriteField(_S), "UnitSize": WriteField(_I), "MarketRent": WriteField(_N),
               "UnitBedrooms": WriteField(_S), "UnitBathrooms": WriteField(_S), "Description": WriteField(_S)}
WORK_ORDER_UPDATE = {"WorkDetails": WriteField(_S), "InvoiceNumber": WriteField(_S), "ChargeableTo": WriteField(_S),
                     "EntryAllowed": WriteField(_S), "EntryNotes": WriteField(_S), "VendorId": WriteField(_I),
                     "VendorNotes": WriteField(_S)}
WORK_ORDER_CREATE = {**{name: WriteField(spec.type, required=name in ("EntryAllowed", "VendorId"))
                        for name, spec in WORK_ORDER_UPDATE.items()},
                     "TaskId": WriteField(_I, required=True)}  # the spec's alternative, a new Task, is not offered
WORK_ORDER_TASK_UPDATE = {name: WriteField(_D if name == "DueDate" else _S, choices=CHOICES.get(name, ()))
                          for name in TASK_FIELDS}
"""Set through the work order's task: Status and Priority (only the task PUT's values, refused before
sending otherwise), Title, DueDate."""

WRITE_DECLARATION = WriteDeclaration(system="buildium", resources={
    "tenants": ResourceWrites({WriteOperation.UPDATE: TENANT_UPDATE}),
    "units": ResourceWrites({WriteOperation.UPDATE: UNIT_UPDATE}),
    "work_orders": ResourceWrites({WriteOperation.UPDATE: {**WORK_ORDER_UPDATE, **WORK_ORDER_TASK_UPDATE},
                                   WriteOperation.CREATE: WORK_ORDER_CREATE}),
})

PATHS = {"tenants": "/v1/leases/tenants", "units": "/v1/rentals/units", "work_orders": "/v1/workorders"}
PUT_FIELDS = {
    "tenants": ("FirstName", "LastName", "Email", "AlternateEmail", "PhoneNumbers", "DateOfBirth", "Comment", "TaxId",
                "EmergencyContact", "Address", "AlternateAddress", "MailingPreference"),
    "units": ("UnitNumber", "UnitSize", "MarketRent", "Address", "UnitBedrooms", "UnitBathrooms", "Description"),
    "work_orders": ("WorkDetails", "InvoiceNumber", "ChargeableTo", "EntryAllowed", "EntryNotes", "VendorId",
                    "VendorNotes", "LineItems"),
}
"""The properties of each PUT message that a GET of the record can fill."""
PHONE_TYPES = {"Home": "Home", "Office": "Work", "Cell": "Mobile", "Fax": "Fax"}
"""A GET's PhoneNumberMessage.Type -> the PUT's PhoneNumbersMessage key (Personal and Other have none)."""


def put_body(resource: str, current: dict[str, Any]) -> dict[str, Any]:
    """The PUT message that leaves `current` (a GET of the record) as it is."""
    body = {name: current.get(name) for name in PUT_FIELDS[resource] if current.get(name) is not None}
    if resource == "tenants":
        phones = current.get("PhoneNumbers") or []
        body["PhoneNumbers"] = {PHONE_TYPES[p["Type"]]: p["Number"] for p in phones if p.get("Type") in PHONE_TYPES}
        if not any((current.get("EmergencyContact") or {}).values()):
            body.pop("EmergencyContact", None)  # an all-null contact: send none rather than an empty one
    if resource == "work_orders":
        body["LineItems"] = [{k: item.get(k) for k in ("GlAccountId", "Quantity", "Memo", "UnitPrice")}
                             for item in current.get("LineItems") or []]
    return body


def send_write(http: HttpClient, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
    """Buildium's request for a validated write: read-merge-PUT for an update, POST for a create."""
    path = PATHS[write.resource]
    if write.operation is WriteOperation.CREATE:
        response = http.request("POST", path, json=with_nested_changes({}, write.payload), stream=write.resource)
    else:
        if record_id is None:
            raise ConfigError(f"buildium: an update of {write.resource} needs a record id")
        on_task = task_changes(write.payload) if write.resource == "work_orders" else {}
        own = {name: value for name, value in write.payload.items() if name not in on_task}
        current = http.request("GET", f"{path}/{record_id}", stream=write.resource).json()
        if own:
            body = with_nested_changes(put_body(write.resource, current), own)
            response = http.request("PUT", f"{path}/{record_id}", json=body, stream=write.resource)
        if on_task:
            response = update_task(http, current, on_task)
            return WriteResponse(status=response.status_code, record_id=record_id, body=response.json())
    answer = response.json()
    return WriteResponse(status=response.status_code, record_id=str(answer.get("Id", record_id)), body=answer)
