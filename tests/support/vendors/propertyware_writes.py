"""The write endpoints of the Propertyware replay, checked as Propertyware's OpenAPI spec describes them.

`GET /contacts/{id}` and `GET /workorders/{id}` (one record), `PUT /contacts/{id}` (`SaveContact`:
`firstName` and `lastName` required, enumerations for gender, salutation and suffix, `country`
required in an address), `POST /workorders` (`SaveWorkOrder`: an existing `buildingID` required,
enumerations for priority and authorizeEnter, hour and minute to enter) and
`PUT /workorders/closeworkorder/{id}` (`CloseWorkOrder`: `timeCardEntry` required, each entry
with a `vendorID`). A property the message does not have is a 400 here (Propertyware may instead
ignore it: stricter, so a connector sending what the spec does not list fails). A write stores the
change and moves the record's `lastModifiedDateTime`, so the next incremental read sees it; a
closed work order gets the status "Closed".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from datetime import date
from typing import TYPE_CHECKING, Any

from connectors.sdk.replay import Reply, Request

if TYPE_CHECKING:
    from tests.support.vendors.propertyware import PropertywareData

CONTACT_TEXT = {"firstName", "middleName", "lastName", "salutation", "suffix", "email", "altEmail", "homePhone",
                "mobilePhone", "workPhone", "otherPhone", "fax", "company", "jobTitle", "comments", "gender",
                "nameOnCheck", "searchTag", "category"}
CONTACT_FLAGS = {"allowESignature", "namedOnLease"}
ENUMS = {"gender": ("UNKNOWN", "MALE", "FEMALE", "DECLINE_TO_STATE"),
         "salutation": ("", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."), "suffix": ("", "Jr.", "Sr.", "I", "II", "III", "IV"),
         "priority": ("HIGH", "MEDIUM", "LOW"), "authorizeEnter": ("NO", "ANYTIME", "SPECIFIEDTIME")}
ADDRESS = {"address", "addressCont", "city", "stateRegion", "postalCode", "country"}
WORK_ORDER_TEXT = {"description", "category", "type", "priority", "source", "authorizeEnter", "specificLocation",
                   "requiredMaterials", "searchTag"}
WORK_ORDER_NUMBERS = {"buildingID", "requestedBy", "costEstimate", "hourEstimate", "hourToEnter", "minuteToEnter"}
WORK_ORDER_DATES = {"dateToEnter", "startDate", "scheduledEndDate"}
WORK_ORDER_FLAGS = {"publishToOwnerPortal", "publishToTenantPortal"}
CLOSE = {"category", "comments", "completedDate", "startDate", "timeCardEntry"}


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"errorCode": code, "userMessage": message, "errors": []})


def route(data: PropertywareData, lock: threading.Lock, request: Request, path: str) -> Reply:
    """Answer a request to `path` (under the API root) that is not a listing."""
    parts = path.split("/")
    with lock:
        if request.method == "GET" and len(parts) == 2 and parts[0] in ("contacts", "workorders"):
            found = _find(data, parts[0], parts[1])
            return Reply(body=dict(found)) if found else _error(404, "NOT_FOUND", f"No {parts[0]} {parts[1]}")
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return _error(400, "BAD_REQUEST", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "BAD_REQUEST", "The request body must be a JSON object.")
        try:
            if request.method == "PUT" and len(parts) == 2 and parts[0] == "contacts":
                return _update_contact(data, parts[1], body)
            if request.method == "POST" and parts == ["workorders"]:
                return _create_work_order(data, body)
            if request.method == "PUT" and len(parts) == 3 and parts[:2] == ["workorders", "closeworkorder"]:
                return _close_work_order(data, parts[2], body)
        except ValueError as exc:
            return _error(400, "BAD_REQUEST", str(exc))
    return _error(404, "NOT_FOUND", f"No resource {request.method} {request.path}")


def _find(data: PropertywareData, resource: str, record_id: str) -> dict[str, Any] | None:
    return next((r for r in data.records[resource] if str(r["id"]) == record_id), None)


def _update_contact(data: PropertywareData, record_id: str, body: dict[str, Any]) -> Reply:
    contact = _find(data, "contacts", record_id)
    if contact is None:
        return _error(404, "NOT_FOUND", f"No contact {record_id}")
    _check(body, text=CONTACT_TEXT, flags=CONTACT_FLAGS, dates={"birthDate"}, nested={"address"})
    missing = [name for name in ("firstName", "lastName") if not body.get(name)]
    if missing:
        raise ValueError(f"{', '.join(missing)} is required")
    if "address" in body:
        address = body["address"]
        if not isinstance(address, dict) or set(address) - ADDRESS or not address.get("country"):
            raise ValueError("address takes address, addressCont, city, stateRegion, postalCode and a required country")
    body.pop("category", None)  # "Applicable only for CREATE Contact"
    return Reply(body=dict(data.mutate("contacts", contact["id"], **body)))


def _create_work_order(data: PropertywareData, body: dict[str, Any]) -> Reply:
    _check(body, text=WORK_ORDER_TEXT, numbers=WORK_ORDER_NUMBERS, dates=WORK_ORDER_DATES, flags=WORK_ORDER_FLAGS,
           nested={"unitIDs"})
    building = _find(data, "buildings", str(body.get("buildingID")))
    if building is None:
        raise ValueError(f"buildingID is required and must be an existing building, got {body.get('buildingID')!r}")
    if body.get("hourToEnter") not in (None, *range(24)) or body.get("minuteToEnter") not in (None, *range(0, 60, 10)):
        raise ValueError("hourToEnter takes 0-23 and minuteToEnter 0, 10, 20, 30, 40 or 50")
    record = data.create("workorders", {
        **{k: v for k, v in body.items() if k not in ("hourToEnter", "minuteToEnter", "requestedBy")},
        "number": 500 + len(data.records["workorders"]), "portfolioID": building["portfolioID"],
        "status": "Open", "unitIDs": body.get("unitIDs") or []})
    return Reply(201, dict(record))


def _close_work_order(data: PropertywareData, record_id: str, body: dict[str, Any]) -> Reply:
    order = _find(data, "workorders", record_id)
    if order is None:
        return _error(404, "NOT_FOUND", f"No work order {record_id}")
    _check(body, text={"category", "comments"}, dates={"completedDate", "startDate"}, nested={"timeCardEntry"})
    entries = body.get("timeCardEntry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("vendorID") for e in entries):
        raise ValueError("timeCardEntry is required: a list of entries, each with a vendorID")
    changes = {k: v for k, v in body.items() if k in ("category", "completedDate", "startDate")}
    data.mutate("workorders", order["id"], **changes, status="Closed")
    return Reply(body={"body": None, "statusCode": "OK"})


def _check(body: dict[str, Any], *, text: Collection[str] = (), numbers: Collection[str] = (),
           dates: Collection[str] = (), flags: Collection[str] = (), nested: Collection[str] = ()) -> None:
    """A 400 (ValueError) for a property outside the message, a wrong type, a bad date or enumeration value."""
    unknown = sorted(set(body).difference(text, numbers, dates, flags, nested))
    if unknown:
        raise ValueError(f"Unrecognized field(s): {', '.join(unknown)}")
    for name, value in body.items():
        if value is None or name in nested:
            continue
        ok = (isinstance(value, str) if name in text or name in dates else
              isinstance(value, bool) if name in flags else
              isinstance(value, int | float) and not isinstance(value, bool))
        if not ok:
            raise ValueError(f"{name}: wrong type {type(value).__name__}")
        if name in dates:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not a date YYYY-MM-DD") from None
        if name in ENUMS and value not in ENUMS[name]:
            raise ValueError(f"{name} must be one of {', '.join(ENUMS[name])}")
