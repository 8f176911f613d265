"""A Rentvine Manager API replay on 127.0.0.1: generated records in the vendor's exact shape, its rules enforced.

Built from Rentvine's OpenAPI 3.1 spec (docs.rentvine.com) and the public clients: every path is
under `/api/manager`; `GET /properties/export`, `/properties/units/export`, `/leases/export`,
`/tenants/search`, `/maintenance/work-orders` and `/properties/{propertyID}/units` answer a bare
JSON array whose items wrap the record under its type (`{"lease": {...}, "balances": {...},
"property": {...}, "unit": {...}, "portfolio": {...}}`), page with `page` (from 1) and `pageSize`
(default 25) and announce no total. The export listings filter on `dateTimeModifiedMin`/`Max`
(inclusive); the search and work-order listings do not. Requests need HTTP Basic auth (access key :
secret), else `401`. Unknown parameters are a `400` (stricter than the vendor may be: it catches a
connector sending what the spec does not list). `POST /tenants/{contactID}` updates a tenant's
name fields, wrapped as `{"contact": {...}}`; any other field is a `400`.

The data is seeded (same seed, same records); `mutate`/`add_property` change it between syncs, each
change moving the record's `dateTimeModified` forward; `throttle(n)` answers the next n requests
with `429` + `Retry-After`; `served` counts the records answered per listing.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.replay import ReplayServer, Reply, Request

ROOT = "/api/manager"
ACCESS_KEY = "rv-access-3be0c2a9d1"
SECRET = "rv-secret-77f1-Kq2x-0c"
LISTINGS = {"properties": "/properties/export", "units": "/properties/units/export", "leases": "/leases/export",
            "tenants": "/tenants/search", "work_orders": "/maintenance/work-orders"}
"""Rooftop stream → the API's listing path (under ROOT)."""
WRAPPERS = {"properties": "property", "units": "unit", "leases": "lease", "tenants": "contact",
            "work_orders": "workOrder"}
KEYS = {"properties": "propertyID", "units": "unitID", "leases": "leaseID", "tenants": "contactID",
        "work_orders": "workOrderID"}
_MODIFIED = {"dateTimeModifiedMin", "dateTimeModifiedMax"}
_PARAMS = {
    "properties": {"isActive", "propertyIDs[]", *_MODIFIED},
    "units": {"isActive", "propertyIDs[]", *_MODIFIED},
    "leases": {"leaseIDs[]", "primaryLeaseStatusIDs[]", "leaseStatusIDs[]", *_MODIFIED},
    "tenants": {"search", "isActive"},
    "work_orders": {"search"},
    "property_units": set(),
}
START = datetime(2024, 1, 1, tzinfo=UTC)
TENANT_WRITABLE = {"firstName", "middleName", "lastName"}
"""Contact fields `POST /tenants/{contactID}` takes here (emails and phones have their own endpoints)."""


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RentvineData:
    """Seeded properties, units, leases (with their tenants), tenant contacts and work orders."""

    def __init__(self, seed: int = 7, properties: int = 5) -> None:
        self.rng = random.Random(seed)
        self.clock = START
        self.records: dict[str, list[dict[str, Any]]] = {stream: [] for stream in LISTINGS}
        self._ids = iter(range(100, 10**9))
        for n in range(properties):
            self.add_property(n)

    def _touch(self, record: dict[str, Any]) -> None:
        self.clock += timedelta(minutes=1)
        record["dateTimeModified"] = stamp(self.clock)

    def _put(self, stream: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = {KEYS[stream]: next(self._ids), **fields, "dateTimeCreated": stamp(self.clock)}
        self._touch(record)
        self.records[stream].append(record)
        return record

    def add_property(self, n: int) -> dict[str, Any]:
        """A property with 1–3 units, a lease and one or two tenants per unit, and work orders."""
        rng = self.rng
        prop = self._put("properties", {
            "portfolioID": 10 + n % 2, "propertyTypeID": 1 + n % 3, "name": f"{rng.choice(['Oak', 'Elm'])} Place {n}",
            "address": f"{200 + n} Vine St", "city": "Greenville", "stateID": "SC", "postalCode": "29601",
            "isActive": True, "isMultiUnit": True, "yearBuilt": 1980 + n, "dateContractBegins": "2023-01-01"})
        for u in range(rng.randint(1, 3)):
            unit = self._put("units", {
                "propertyID": prop["propertyID"], "name": f"{n}-{u + 1}", "address": prop["address"],
                "city": "Greenville", "stateID": "SC", "postalCode": "29601", "beds": rng.randint(1, 4),
                "fullBaths": rng.randint(1, 2), "size": rng.randint(600, 1800), "rent": f"{rng.randint(9, 20)}50.00",
                "deposit": "500.00", "isVacant": False, "isActive": True})
            tenants = [self._put("tenants", {
                "contactTypeID": 2, "firstName": rng.choice(["Ana", "Ben", "Cy"]), "lastName": f"Vine{t}",
                "email": f"t{t}.{unit['unitID']}@example.com", "phone": "864-555-0100", "isActive": True})
                for t in range(rng.randint(1, 2))]
            for tenant in tenants:
                tenant["name"] = f"{tenant['firstName']} {tenant['lastName']}"
            self._put("leases", {
                "code": f"L-{unit['unitID']}", "propertyID": prop["propertyID"], "unitID": unit["unitID"],
                "primaryLeaseStatusID": rng.choice([1, 2, 2, 3]), "leaseStatusID": 7, "startDate": "2024-02-01",
                "endDate": "2025-01-31", "moveInDate": "2024-02-01", "moveOutDate": None,
                "tenants": [{"name": t["name"], "email": t["email"], "phone": t["phone"], "isActive": True,
                             "contactID": t["contactID"]} for t in tenants]})
        for w in range(rng.randint(1, 2)):
            self._put("work_orders", {
                "workOrderNumber": f"WO-{len(self.records['work_orders']) + 1}", "propertyID": prop["propertyID"],
                "unitID": None, "primaryWorkOrderStatusID": rng.choice([1, 2, 3]), "priorityID": rng.randint(1, 3),
                "description": f"Leaky faucet {w}", "estimatedAmount": "120.50", "isOwnerApproved": True})
        return prop

    def mutate(self, stream: str, record_id: int, **changes: Any) -> dict[str, Any]:
        """Change a record as a Rentvine user would; its dateTimeModified moves forward."""
        record = next(r for r in self.records[stream] if r[KEYS[stream]] == record_id)
        record.update(changes)
        self._touch(record)
        return record

    def by_id(self, stream: str, record_id: Any) -> dict[str, Any]:
        return next((r for r in self.records[stream] if r[KEYS[stream]] == record_id), {})

    def item(self, stream: str, record: dict[str, Any]) -> dict[str, Any]:
        """The listing's item: the record under its type, with the related objects the spec shows beside it."""
        out: dict[str, Any] = {WRAPPERS[stream]: dict(record)}
        prop = self.by_id("properties", record.get("propertyID"))
        if stream == "leases":
            out.update(balances={"unpaidTotalAmount": 0, "unpaidRentAmount": 0, "pastDueTotalAmount": 0},
                       property=prop, unit=self.by_id("units", record["unitID"]),
                       portfolio={"portfolioID": prop.get("portfolioID")})
        elif stream == "units":
            out["property"] = prop
        elif stream == "properties":
            out["portfolio"] = {"portfolioID": record["portfolioID"], "name": f"Owner {record['portfolioID']}"}
        elif stream == "work_orders":
            out.update(contact={"contactID": 9, "name": "Vine Plumbing"}, unit=None)
        return out


class RentvineApi:
    """The route: checks Basic auth and the parameters, filters and pages (see the module doc)."""

    def __init__(self, data: RentvineData, *, secret: str = SECRET) -> None:
        self.data = data
        token = base64.b64encode(f"{ACCESS_KEY}:{secret}".encode()).decode()
        self.authorization = f"Basic {token}"
        self._lock = threading.Lock()
        self._throttled = 0
        self.retry_after = 1.0
        self.served: dict[str, int] = dict.fromkeys(LISTINGS, 0)
        """Records answered per stream's listing (per-property unit listings count as units)."""

    def throttle(self, requests: int, retry_after: float = 1.0) -> None:
        with self._lock:
            self._throttled, self.retry_after = requests, retry_after

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            if self._throttled:
                self._throttled -= 1
                return Reply(429, {"error": "Too Many Requests"}, headers={"Retry-After": f"{self.retry_after:g}"})
        if request.headers.get("authorization") != self.authorization:
            return Reply(401, {"error": "Unauthorized"})
        path = request.path.removeprefix(ROOT)
        stream = next((s for s, p in LISTINGS.items() if p == path), None)
        parts = path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 2 and parts[0] == "tenants" and parts[1].isdigit():
            return self._update_tenant(int(parts[1]), request.body)
        if request.method != "GET":
            return Reply(405, {"error": "Method not allowed"})
        try:
            if stream is not None:
                return self._list(stream, stream, request.query, lambda r: True)
            if len(parts) == 3 and parts[0] == "properties" and parts[2] == "units" and parts[1].isdigit():
                if not self.data.by_id("properties", int(parts[1])):
                    return Reply(404, {"error": "Property not found"})
                return self._list("units", "property_units", request.query,
                                  lambda r: r["propertyID"] == int(parts[1]))
        except ValueError as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(404, {"error": f"No route {request.path}"})

    def _update_tenant(self, contact_id: int, raw: bytes) -> Reply:
        """`POST /tenants/{contactID}`: the changed contact fields under `contact`; its dateTimeModified moves."""
        try:
            body = json.loads(raw)
        except ValueError:
            return Reply(400, {"error": "The request body is not valid JSON."})
        contact = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(contact, dict) or set(body) != {"contact"} or not contact:
            return Reply(400, {"error": "The body must be {\"contact\": {...}}."})
        unknown = sorted(set(contact) - TENANT_WRITABLE)
        if unknown:
            return Reply(400, {"error": f"Unknown contact fields: {', '.join(unknown)}"})
        blank = [name for name in ("firstName", "lastName") if name in contact and not contact[name]]
        if blank or not all(isinstance(v, str | None) for v in contact.values()):
            return Reply(400, {"error": f"firstName and lastName must be non-empty text {blank}"})
        with self._lock:
            if not self.data.by_id("tenants", contact_id):
                return Reply(404, {"error": "Contact not found"})
            record = self.data.mutate("tenants", contact_id, **contact)
            record["name"] = f"{record['firstName']} {record['lastName']}"
        return Reply(body={"contact": dict(record)})

    def _list(self, stream: str, params: str, query: dict[str, str], keep: Any) -> Reply:
        unknown = set(query) - {"page", "pageSize"} - _PARAMS[params]
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        page, size = int(query.get("page", 1)), int(query.get("pageSize", 25))
        if page < 1 or size < 1:
            raise ValueError("page and pageSize must be >= 1")
        since = _instant(query.get("dateTimeModifiedMin")) or datetime.min.replace(tzinfo=UTC)
        until = _instant(query.get("dateTimeModifiedMax")) or datetime.max.replace(tzinfo=UTC)
        with self._lock:
            found = [r for r in self.data.records[stream]
                     if keep(r) and since <= _instant(r["dateTimeModified"]) <= until]  # type: ignore[operator]
            chunk = [self.data.item(stream, r) for r in found[(page - 1) * size:page * size]]
            self.served[stream] += len(chunk)
        return Reply(body=chunk)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid date-time {text!r}") from None


@contextmanager
def serve(data: RentvineData | None = None, *, secret: str = SECRET) -> Iterator[tuple[ReplayServer, RentvineApi]]:
    """`with serve() as (server, api):` a running replay; the connector's base_url is `server.url + ROOT`."""
    api = RentvineApi(data or RentvineData(), secret=secret)
    with ReplayServer(api) as server:
        yield server, api
