"""What Propertyware accepts when Rooftop writes to it, and how a write becomes Propertyware's request.

From Propertyware's public OpenAPI 3.0 ("Open API, powered by Propertyware", v1; a copy is in the
public repository `api-evangelist/propertyware`, `openapi/_original/propertyware-openapi.json`):

- `tenants` (contacts of type TENANT) update: `PUT /contacts/{contactID}` with a `SaveContact`,
  whose `firstName` and `lastName` are required in every body. A Rooftop update sends a subset, so
  it reads the contact (`GET /contacts/{contactID}`), fills the `SaveContact` from it, applies the
  change and PUTs the whole body (whether Propertyware clears what a PUT leaves out is not said;
  the read-merge is safe either way). `category` is "applicable only for CREATE" and not sent.
  No create: `SaveContact` has no `type`, so a contact POSTed to `/contacts` would not be a TENANT
  and would never reach the `tenants` stream.
- `work_orders` create: `POST /workorders` with a `SaveWorkOrder` (`buildingID` required).
- `work_orders` update: the spec has no general work-order update, only the close
  (`PUT /workorders/closeworkorder/{workOrderID}`, `CloseWorkOrder`, BETA: write access for
  customers in Propertyware's beta program). So an update is a close and must say so with
  `status: "Closed"`; `startDate`, `completedDate`, `category` and `comments` go with it. The
  body's required `timeCardEntry` list is sent empty (time-card entries are not offered).

Field names are Propertyware's own (the connector's stream columns, so a written value lands in the
warehouse column of that name); `address.city`-style names set a key of the nested address.
"""

from __future__ import annotations

from typing import Any

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

_S, _I, _N, _B, _D = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.BOOLEAN, FieldType.DATE

ADDRESS_KEYS = ("address", "addressCont", "city", "stateRegion", "postalCode", "country")
"""`SaveAddress` (`country` required when an address is sent; the others too for the US and Canada)."""
CONTACT_UPDATE = {
    **{name: WriteField(_S) for name in (
        "firstName", "middleName", "lastName", "email", "altEmail", "homePhone", "mobilePhone", "workPhone",
        "otherPhone", "fax", "company", "jobTitle", "comments", "nameOnCheck", "searchTag")},
    "birthDate": WriteField(_D), "allowESignature": WriteField(_B), "namedOnLease": WriteField(_B),
    **{f"address.{key}": WriteField(_S) for key in ADDRESS_KEYS},
    # SaveContact's enumerations (gender's `enum`; salutation's and suffix's "Allowed values are" lists).
    "gender": WriteField(_S, choices=("UNKNOWN", "MALE", "FEMALE", "DECLINE_TO_STATE")),
    "salutation": WriteField(_S, choices=("", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")),
    "suffix": WriteField(_S, choices=("", "Jr.", "Sr.", "I", "II", "III", "IV")),
}
"""`SaveContact` without `category` (create only)."""
WORK_ORDER_CREATE = {
    "buildingID": WriteField(_I, required=True), "requestedBy": WriteField(_I),
    **{name: WriteField(_S) for name in (
        "description", "category", "type", "source", "specificLocation", "requiredMaterials", "searchTag")},
    # SaveWorkOrder's enumerations and "Allowed Value" lists.
    "priority": WriteField(_S, choices=("HIGH", "MEDIUM", "LOW")),
    "authorizeEnter": WriteField(_S, choices=("NO", "ANYTIME", "SPECIFIEDTIME")),
    "hourToEnter": WriteField(_I, choices=tuple(range(24))),
    "minuteToEnter": WriteField(_I, choices=tuple(range(0, 60, 10))),
    "costEstimate": WriteField(_N), "hourEstimate": WriteField(_N), "dateToEnter": WriteField(_D),
    "startDate": WriteField(_D),
    "scheduledEndDate": WriteField(_D), "publishToOwnerPortal": WriteField(_B), "publishToTenantPortal": WriteField(_B),
}
"""`SaveWorkOrder` without `unitIDs` (a list: Rooftop's write fields are scalars)."""
CLOSED = "Closed"
WORK_ORDER_CLOSE = {"status": WriteField(_S, required=True, choices=(CLOSED,)), "startDate": WriteField(_D),
                    "completedDate": WriteField(_D), "category": WriteField(_S), "comments": WriteField(_S)}
"""`CloseWorkOrder` plus `status`, required and only "Closed": the only work-order update Propertyware has,
so any other update is refused before sending, naming the value and the one allowed."""

WRITE_DECLARATION = WriteDeclaration(system="propertyware", resources={
    "tenants": ResourceWrites({WriteOperation.UPDATE: CONTACT_UPDATE}),
    "work_orders": ResourceWrites({WriteOperation.CREATE: WORK_ORDER_CREATE,
                                   WriteOperation.UPDATE: WORK_ORDER_CLOSE}),
})

CONTACT_PUT_FIELDS = tuple(name for name in CONTACT_UPDATE if not name.startswith("address."))


def contact_body(current: dict[str, Any]) -> dict[str, Any]:
    """The `SaveContact` that leaves `current` (a GET of the contact) as it is."""
    body = {name: current[name] for name in CONTACT_PUT_FIELDS if current.get(name) is not None}
    address = {key: value for key, value in (current.get("address") or {}).items()
               if key in ADDRESS_KEYS and value is not None}
    if address:
        body["address"] = address
    return body


def close_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The `CloseWorkOrder` of a (validated, so `status: Closed`) work-order update."""
    return {**{name: value for name, value in payload.items() if name != "status"}, "timeCardEntry": []}


def send_write(http: HttpClient, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
    """Propertyware's request(s) for a validated write, each through the connection's HTTP client."""
    stream = write.resource
    if write.operation is WriteOperation.CREATE:  # work orders only
        response = http.request("POST", "/workorders", json=write.payload, stream=stream)
        answer = response.json()
        return WriteResponse(status=response.status_code, record_id=str(answer.get("id")), body=answer)
    if record_id is None or not record_id.isdigit():
        raise ConfigError(f"propertyware: an update of {stream} needs a numeric id, got {record_id!r}")
    if stream == "work_orders":
        body = close_body(write.payload)
        response = http.request("PUT", f"/workorders/closeworkorder/{record_id}", json=body, stream=stream)
    else:
        current = http.request("GET", f"/contacts/{record_id}", stream=stream).json()
        body = with_nested_changes(contact_body(current), write.payload)
        response = http.request("PUT", f"/contacts/{record_id}", json=body, stream=stream)
    answer = response.json() if response.content else None  # the close is documented as "No Content"
    return WriteResponse(status=response.status_code, record_id=record_id, body=answer)
