"""A Buildium Open API replay for tests: generated records in Buildium's exact shape on 127.0.0.1.

`BuildiumApi` is a route for `connectors.sdk.replay.ReplayServer` (`with ReplayServer(api) as
server:`). It serves what the OpenAPI 3.0 spec says a v1 listing is: a top-level JSON array, paged by
`offset`/`limit` (limit 1-1000, default 50, else 400) with `X-Total-Count`, the two credential
headers checked on every request (401 with an `ApiErrorResponse` body otherwise), and the list
filters the connector relies on: `lastupdatedfrom` (`YYYY-MM-DDTHH:MM:SSZ`; a date on work orders;
anything else is a 400, as Buildium validates it), `propertyids`, and `entitytype`/`entityid` on work
orders. Every record has a hidden update time; only leases return it (`LastUpdatedDateTime`), as in
Buildium. `update()` and `add()` change records between syncs (stamped with the current time),
`throttle()` answers the next requests 429 with `Retry-After`, and `served` counts the records sent
per path, so a test can tell a full read from an incremental one. Writes: GET and PUT of one tenant,
unit or work order and POST of a work order, checked like Buildium checks its PUT/POST messages
(required properties, enums; unknown properties are refused here, which Buildium may instead
ignore), stored in the GET shape and stamped now so the next incremental sync sees them. A work
order's status, priority, title and due date are its task's: GET/PUT of tasks are served by
tests/support/vendors/buildium_tasks.py.
Data are seeded: same seed, same data.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.sdk.replay import Reply, Request
from tests.support.vendors.buildium_tasks import BuildiumTasks

CLIENT_ID = "bld-client-5f0c9e"
CLIENT_SECRET = "bld-secret-Zq81-x7"
PATHS = {"rentals": "/v1/rentals", "units": "/v1/rentals/units", "leases": "/v1/leases",
         "tenants": "/v1/leases/tenants", "work_orders": "/v1/workorders"}
STREAMS = {path: name for name, path in PATHS.items()}
FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "June", "Kofi", "Lea"]
LAST_NAMES = ["Ortiz", "Nguyen", "Smith", "Okafor", "Kowalski", "Haddad", "Lindqvist", "Moreau"]
CITIES = [("Austin", "TX", "78701"), ("Denver", "CO", "80202"), ("Boston", "MA", "02108"), ("Tampa", "FL", "33602")]
WRITABLE = {PATHS[name]: name for name in ("tenants", "units", "work_orders")}
"""Paths with a GET/PUT of one record (and POST of work orders)."""
PUT_MESSAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tenants": (("FirstName", "LastName", "Address"),
                ("FirstName", "LastName", "Email", "AlternateEmail", "PhoneNumbers", "DateOfBirth", "Comment", "TaxId",
                 "EmergencyContact", "Address", "AlternateAddress", "MailingPreference")),
    "units": (("UnitNumber", "Address"),
              ("UnitNumber", "UnitSize", "MarketRent", "Address", "UnitBedrooms", "UnitBathrooms", "Description")),
    "work_orders": (("EntryAllowed", "VendorId"),
                    ("WorkDetails", "InvoiceNumber", "ChargeableTo", "EntryAllowed", "EntryNotes", "VendorId",
                     "VendorNotes", "EntryContactId", "EntryContactIds", "LineItems")),
}
"""(required, allowed) properties of RentalTenantPutMessage, RentalUnitPutMessage, WorkOrderPutMessage."""
GET_PHONE_TYPES = {"Home": "Home", "Work": "Office", "Mobile": "Cell", "Fax": "Fax"}
SINCE_FORMATS = {"work_orders": "%Y-%m-%d"}
"""`lastupdatedfrom` is a date on work orders, a UTC timestamp everywhere else."""
DEFAULT_SINCE = "%Y-%m-%dT%H:%M:%SZ"


def _error(status: int, message: str, code: str) -> Reply:
    return Reply(status, {"UserMessage": message, "ErrorCode": code, "Errors": []})


def _address(rng: random.Random, number: int) -> dict[str, Any]:
    city, state, zip_code = rng.choice(CITIES)
    return {"AddressLine1": f"{number} {rng.choice(['Oak', 'Elm', 'Pine', 'Main'])} St", "AddressLine2": None,
            "AddressLine3": None, "City": city, "State": state, "PostalCode": zip_code, "Country": "UnitedStates"}


class BuildiumApi:
    """The route: Buildium's rentals, units, leases, tenants and work orders over generated records."""

    def __init__(self, *, seed: int = 7, properties: int = 6, units_per_property: int = 4,
                 client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in PATHS}
        self.updated: dict[tuple[str, int], datetime] = {}
        """(stream, Id) -> last update: hidden except on leases, used by `lastupdatedfrom`."""
        self.served: Counter[str] = Counter()
        """Records sent per path."""
        self._throttled: list[float] = []
        self._lock = threading.Lock()
        self._generate(random.Random(seed), properties, units_per_property)
        self.tasks = BuildiumTasks(self)
        """The work orders' tasks: GET/PUT under /v1/tasks/<type>/{id} (tests/support/vendors/buildium_tasks.py)."""

    @property
    def lock(self) -> threading.Lock:
        """Held while the records are read or changed (the route answers from several threads)."""
        return self._lock

    # --- the data ---------------------------------------------------------------------------------

    def _generate(self, rng: random.Random, properties: int, units_per_property: int) -> None:
        start = datetime(2023, 1, 1, tzinfo=UTC)
        stamps = iter(start + timedelta(hours=7 * i) for i in rng.sample(range(4000), 4000))  # distinct times
        for p in range(properties):
            pid = 1001 + p
            self._put("rentals", {
                "Id": pid, "Name": f"{rng.choice(['Maple', 'Cedar', 'Harbor', 'Summit'])} Court {pid}",
                "StructureDescription": None, "NumberUnits": units_per_property, "IsActive": True,
                "OperatingBankAccountId": 10, "Reserve": 500.0, "Address": _address(rng, 100 + p),
                "YearBuilt": rng.randint(1950, 2020), "RentalType": "Residential",
                "RentalSubType": rng.choice(["MultiFamily", "SingleFamily", "CondoTownhome"]),
                "RentalManager": {"Id": 3, "FirstName": "Pat", "LastName": "Lee", "Email": "pat@example.com"},
            }, next(stamps))
            for u in range(units_per_property):
                uid = pid * 100 + u
                occupied = rng.random() < 0.8
                self._put("units", {
                    "Id": uid, "PropertyId": pid, "BuildingName": None, "UnitNumber": f"{u + 1:02d}",
                    "Description": None, "MarketRent": float(rng.randrange(900, 2600, 25)),
                    "Address": _address(rng, 100 + p), "UnitBedrooms": rng.choice(["OneBed", "TwoBed", "Studio"]),
                    "UnitBathrooms": rng.choice(["OneBath", "TwoBath"]), "UnitSize": rng.randint(450, 1400),
                    "IsUnitListed": not occupied, "IsUnitOccupied": occupied,
                }, next(stamps))
                if occupied:
                    self._lease(rng, pid, uid, next(stamps))
                self._work_order(rng, uid, next(stamps))

    def _lease(self, rng: random.Random, pid: int, uid: int, stamp: datetime) -> None:
        lid = uid * 10
        begin = date(2023, 1, 1) + timedelta(days=rng.randint(0, 500))
        status = rng.choice(["Active", "Active", "Active", "Past", "Future"])
        tenants = []
        for t in range(rng.randint(1, 2)):
            tid = lid + t
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            tenant = {
                "Id": tid, "FirstName": first, "LastName": last, "Email": f"{first}.{last}.{tid}@example.com".lower(),
                "AlternateEmail": None, "PhoneNumbers": [{"Number": f"555-01{tid % 100:02d}", "Type": "Cell"}],
                "CreatedDateTime": _iso(stamp - timedelta(days=3)),
                "EmergencyContact": {"Name": None, "RelationshipDescription": None, "Phone": None, "Email": None},
                "DateOfBirth": f"{rng.randint(1950, 2000)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                "SMSOptInStatus": "NotSet", "Address": _address(rng, 100), "AlternateAddress": None,
                "MailingPreference": "PrimaryAddress",
                "Leases": [{"Id": lid, "PropertyId": pid, "UnitId": uid, "LeaseStatus": status}],
                "Comment": None, "TaxId": None,
            }
            self._put("tenants", tenant, stamp)
            tenants.append(tenant)
        self._put("leases", {
            "Id": lid, "PropertyId": pid, "UnitId": uid, "UnitNumber": f"{uid % 100 + 1:02d}",
            "LeaseFromDate": begin.isoformat(), "LeaseToDate": (begin + timedelta(days=364)).isoformat(),
            "LeaseType": "Fixed", "LeaseStatus": status, "IsEvictionPending": rng.random() < 0.1,
            "TermType": "Standard", "RenewalOfferStatus": "NotSet",
            "CurrentTenants": [{k: t[k] for k in ("Id", "FirstName", "LastName", "Email", "PhoneNumbers")}
                               for t in tenants],
            "CurrentNumberOfOccupants": len(tenants),
            "AccountDetails": {"SecurityDeposit": 1000.0, "Rent": float(rng.randrange(900, 2600, 25))},
            "Cosigners": [], "AutomaticallyMoveOutTenants": False, "CreatedDateTime": _iso(stamp - timedelta(days=3)),
            "MoveOutData": [], "PaymentDueDay": 1,
            "Tenants": [{"Id": t["Id"], "Status": "Current", "MoveInDate": begin.isoformat()} for t in tenants],
        }, stamp)

    def _work_order(self, rng: random.Random, uid: int, stamp: datetime) -> None:
        wid = uid * 10 + 7
        title = rng.choice(["Leaking faucet", "No heat", "Broken window", "Pest control"])
        status = rng.choice(["New", "InProgress", "Completed", "Closed"])
        due = (stamp + timedelta(days=7)).date().isoformat()
        self._put("work_orders", {
            "Id": wid, "Task": {"Id": wid + 1, "Type": "ResidentRequest", "UnitId": uid,
                                "UnitAgreement": {"Id": uid * 10, "Type": "Lease", "Href": f"/v1/leases/{uid * 10}"},
                                "Title": title, "DueDate": due, "Priority": "Normal", "Status": status},
            "Title": title, "DueDate": due, "Priority": "Normal", "Status": status, "WorkDetails": None,
            "InvoiceNumber": None, "ChargeableTo": None, "EntryAllowed": "Yes", "EntryNotes": None, "VendorId": 77,
            "VendorNotes": None, "EntryContact": None, "EntryContacts": [], "BillTransactionId": None,
            "Amount": float(rng.randrange(50, 900)), "LineItems": [],
        }, stamp)

    def _put(self, stream: str, record: dict[str, Any], stamp: datetime) -> None:
        if stream == "leases":
            record["LastUpdatedDateTime"] = _iso(stamp)
        self.records[stream].append(record)
        self.updated[(stream, record["Id"])] = stamp

    # --- changes between syncs --------------------------------------------------------------------

    def update(self, stream: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Change a record now (its update time becomes the current time); returns it."""
        with self._lock:
            record = next(r for r in self.records[stream] if r["Id"] == record_id)
            record.update(fields)
            now = datetime.now(UTC).replace(microsecond=0)
            self.updated[(stream, record_id)] = now
            if stream == "leases":
                record["LastUpdatedDateTime"] = _iso(now)
            return record

    def add(self, stream: str, record: dict[str, Any]) -> None:
        """A new record, created now."""
        with self._lock:
            self._put(stream, record, datetime.now(UTC).replace(microsecond=0))

    def throttle(self, requests: int, retry_after: float = 1) -> None:
        """Answer the next `requests` requests 429 with `Retry-After: retry_after` (Buildium's rate limit)."""
        with self._lock:
            self._throttled.extend([retry_after] * requests)

    def property_of(self, stream: str, record: dict[str, Any]) -> int | None:
        """The rental a record belongs to, as Buildium's property filters see it."""
        if stream == "rentals":
            return int(record["Id"])
        if stream in ("units", "leases"):
            return int(record["PropertyId"])
        if stream == "tenants":
            return int(record["Leases"][0]["PropertyId"]) if record["Leases"] else None
        return int(record["Task"]["UnitId"]) // 100  # work orders: the unit's rental

    # --- the route --------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            if self._throttled:
                wait = self._throttled.pop(0)
                return Reply(429, {"UserMessage": "Too many requests", "ErrorCode": "TooManyRequests", "Errors": []},
                             headers={"Retry-After": f"{wait:g}"})
        if (request.headers.get("x-buildium-client-id"), request.headers.get("x-buildium-client-secret")) != (
                self.client_id, self.client_secret):
            return _error(401, "The API key couldn't be authorized.", "Unauthorized")
        if request.path.startswith("/v1/tasks/"):
            return self.tasks(request)
        if request.method in ("PUT", "POST") or request.path.rsplit("/", 1)[0] in WRITABLE:
            return self._write(request)
        stream = STREAMS.get(request.path)
        if stream is None or request.method != "GET":
            return _error(404, f"No resource {request.method} {request.path}", "NotFound")
        try:
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "50"))
            chosen = self._filter(stream, request.query)
        except ValueError as exc:
            return _error(400, str(exc), "BadRequest")
        if not 1 <= limit <= 1000 or offset < 0:
            return _error(400, "limit must be between 1 and 1000 and offset at least 0", "BadRequest")
        page = chosen[offset:offset + limit]
        with self._lock:
            self.served[request.path] += len(page)
        return Reply(body=page, headers={"X-Total-Count": str(len(chosen))})

    # --- writes (Buildium's PUT/POST messages; the record's update time moves) --------------------

    def _write(self, request: Request) -> Reply:
        parent, _, tail = request.path.rpartition("/")
        stream, record_id = (WRITABLE.get(parent), tail) if tail.isdigit() else (STREAMS.get(request.path), None)
        if stream is None or (record_id is None) != (request.method == "POST") or (
                request.method == "POST" and stream != "work_orders"):
            return _error(404, f"No resource {request.method} {request.path}", "NotFound")
        with self._lock:
            record = next((r for r in self.records[stream] if str(r["Id"]) == record_id), None)
        if record_id is not None and record is None:
            return _error(404, f"{stream} {record_id} not found", "NotFound")
        if request.method == "GET":
            return Reply(body=record)
        try:
            body = json.loads(request.body)
            problem = _invalid(stream, request.method, body)
        except ValueError:
            problem = "The request body is not valid JSON."
        if problem:
            return _error(400, problem, "BadRequest")
        if record is None:  # a new work order on an existing task
            new_id = max(r["Id"] for r in self.records[stream]) + 1
            task = next(r["Task"] for r in self.records[stream] if r["Task"]["Id"] == body["TaskId"])
            record = {**body, "Id": new_id, "Task": task, "Title": task["Title"], "Status": task["Status"]}
            self.add(stream, record)
            return Reply(201, record)
        fields = dict(body)
        if stream == "tenants":  # the GET shape: a list of {Number, Type}
            phones = body.get("PhoneNumbers") or {}
            fields["PhoneNumbers"] = [{"Number": n, "Type": GET_PHONE_TYPES[t]} for t, n in phones.items()]
        return Reply(body=self.update(stream, record["Id"], **fields))

    def _filter(self, stream: str, query: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.records[stream])
        if "lastupdatedfrom" in query:
            since = _parse_since(query["lastupdatedfrom"], SINCE_FORMATS.get(stream, DEFAULT_SINCE))
            records = [r for r in records if self._updated_on(stream, r) >= since]
        if "propertyids" in query and stream != "work_orders":
            wanted = {int(v) for v in query["propertyids"].split(",")}
            records = [r for r in records if self.property_of(stream, r) in wanted]
        if stream == "work_orders" and "entityid" in query:
            if query.get("entitytype") != "Rental":
                raise ValueError("EntityType is required when EntityId is set")
            records = [r for r in records if self.property_of(stream, r) == int(query["entityid"])]
        return records

    def _updated_on(self, stream: str, record: dict[str, Any]) -> datetime:
        stamp = self.updated[(stream, record["Id"])]
        if stream in SINCE_FORMATS:  # a date filter compares days
            return stamp.replace(hour=0, minute=0, second=0, microsecond=0)
        return stamp


def _invalid(stream: str, method: str, body: Any) -> str | None:
    """What Buildium would answer 400 for: a missing required property, a wrong type, a bad enum value."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    required, allowed = PUT_MESSAGES[stream]
    if method == "POST":
        required, allowed = required + ("TaskId",), allowed + ("TaskId",)
    missing = [name for name in required if body.get(name) is None]
    unknown = [name for name in body if name not in allowed]
    if missing or unknown:
        return f"Missing required properties {missing}; unknown properties {unknown}"
    if "Address" in body and not all(body["Address"].get(k) for k in ("AddressLine1", "Country")):
        return "Address.AddressLine1 and Address.Country are required"
    if stream == "tenants" and not set(body.get("PhoneNumbers") or {}) <= set(GET_PHONE_TYPES):
        return "PhoneNumbers takes Home, Work, Mobile and Fax"
    if stream == "work_orders" and body["EntryAllowed"] not in ("Unknown", "Yes", "No"):
        return "EntryAllowed must be Unknown, Yes or No"
    return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_since(value: str, fmt: str) -> datetime:
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"lastupdatedfrom {value!r} is not in the format {fmt}") from None
