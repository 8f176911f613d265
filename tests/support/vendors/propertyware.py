"""A Propertyware API replay on 127.0.0.1: generated records in the vendor's exact shape, its rules enforced.

Built from Propertyware's public OpenAPI spec: `GET /pw/api/rest/v1/{portfolios,buildings,units,
leases,contacts,workorders}` answer a bare JSON array, page with `offset` (0-based) and `limit`
(default 100, at most 500: larger values are lowered), announce the result size in `X-Total-Count`,
filter on `lastModifiedDateTimeStart`/`End` (inclusive) and on `buildingID`, `portfolioID`, `type`,
hide deactivated portfolios/buildings/units unless `includeDeactivated=true`, and sort with `orderby`
(`lastmodifieddatetime asc,id asc`). Every request needs the three headers of the spec's security
schemes, else `401` with the spec's `ErrorResponse`. Unknown parameters are a `400` (stricter than
the vendor may be: it catches a connector sending what the spec does not list).

The data is seeded (same seed, same records); `mutate`/`add` change it between syncs, each change
moving the record's `lastModifiedDateTime` forward; `throttle(n)` answers the next n requests with
`429` + `Retry-After`. Request counts per path: `server.count(path)` of the `ReplayServer`. Writes
(one-record GETs, contact PUT, work-order create and close) are served by
tests/support/vendors/propertyware_writes.py, checked like the spec's request messages.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.replay import ReplayServer, Reply, Request
from tests.support.vendors import propertyware_writes as writes

ROOT = "/pw/api/rest/v1"
ORGANIZATION_ID = "pw-org-558021"
CLIENT_ID = "pw-client-7f3e9a21"
CLIENT_SECRET = "pw-secret-Qx81-zz0-44ba"
RESOURCES = {"portfolios": "portfolios", "buildings": "buildings", "units": "units", "leases": "leases",
             "tenants": "contacts", "work_orders": "workorders"}
"""Rooftop stream → the API's resource path (under ROOT)."""
_COMMON = {"offset", "limit", "lastModifiedDateTimeStart", "lastModifiedDateTimeEnd", "orderby", "includeCustomFields"}
_FILTERS = {
    "portfolios": {"includeDeactivated"},
    "buildings": {"includeDeactivated", "vacant", "publishedForRent", "leaseID", "portfolioID"},
    "units": {"includeDeactivated", "vacant", "publishedForRent", "portfolioID", "buildingID", "type"},
    "leases": {"portfolioID", "buildingID", "unitID", "status", "includeOtherBalances"},
    "contacts": {"type"},
    "workorders": {"portfolioID", "buildingID", "status", "type", "priority"},
}
LEASE_STATUSES = ("Active", "Active", "Active", "Future", "Past", "Evicted")
START = datetime(2024, 1, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """The spec's date-time format: YYYY-MM-dd'T'HH:mm:ssXXX, in UTC."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"errorCode": code, "userMessage": message, "errors": []})


class PropertywareData:
    """Seeded portfolios, buildings (the properties), units, leases, contacts and work orders."""

    def __init__(self, seed: int = 7, buildings: int = 6) -> None:
        self.rng = random.Random(seed)
        self.clock = START
        self.records: dict[str, list[dict[str, Any]]] = {path: [] for path in RESOURCES.values()}
        self._ids = iter(range(1000, 10**9))
        for p in range(3):
            self._put("portfolios", {"name": f"Owner Group {p + 1}", "abbreviation": f"OG{p + 1}", "active": True,
                                     "cashAccrual": "CASH", "owners": [{"name": f"Owner {p + 1}"}], "customFields": []})
        for b in range(buildings):
            self.add_building(b)

    def _next_time(self) -> str:
        self.clock += timedelta(minutes=1)
        return stamp(self.clock)

    def _put(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = {"id": next(self._ids), **fields, "createdBy": "seed", "lastModifiedBy": "seed",
                  "createdDateTime": stamp(self.clock)}
        record["lastModifiedDateTime"] = self._next_time()
        self.records[path].append(record)
        return record

    def add_building(self, n: int) -> dict[str, Any]:
        """A building with 2–4 units, a lease and one or two tenants per occupied unit, and work orders."""
        rng = self.rng
        portfolio = self.records["portfolios"][n % 3]
        building = self._put("buildings", {
            "name": f"{rng.choice(['Oak', 'Elm', 'Birch', 'Cedar'])} Court {n + 1}", "abbreviation": f"B{n + 1}",
            "active": True, "portfolioID": portfolio["id"], "propertyType": "APARTMENT", "category": "RESIDENTIAL",
            "address": {"address": f"{100 + n} Main St", "city": "Tulsa", "stateRegion": "OK", "postalCode": "74103",
                        "country": "United States"},
            "countUnit": 0, "targetRent": 1000 + 25 * n, "yearBuilt": 1960 + n, "numberOfBathrooms": 1.5,
            "customFields": [{"fieldName": "Region", "value": "North", "dataType": "TEXT", "definitionID": 1}]})
        for u in range(rng.randint(2, 4)):
            building["countUnit"] += 1
            unit = self._put("units", {
                "name": f"{building['abbreviation']}-{u + 1}", "buildingID": building["id"],
                "portfolioID": portfolio["id"], "active": True, "numberOfBedrooms": rng.randint(1, 3),
                "targetRent": round(900 + rng.random() * 600, 2), "status": "Occupied",
                "address": {**building["address"], "addressCont": f"Unit {u + 1}"}})
            tenants = [self._put("contacts", {
                "type": "TENANT", "firstName": rng.choice(["Ana", "Ben", "Cho", "Dev"]), "lastName": f"Tenant{t}",
                "email": f"t{t}.{unit['id']}@example.com", "mobilePhone": "918-555-0100", "namedOnLease": True,
                "birthDate": "1990-05-17", "address": unit["address"]}) for t in range(rng.randint(1, 2))]
            lease = self._put("leases", {
                "leaseName": f"Lease {unit['name']}", "unitID": unit["id"], "buildingID": building["id"],
                "portfolioID": portfolio["id"], "status": rng.choice(LEASE_STATUSES), "active": True,
                "startDate": "2024-02-01", "endDate": "2025-01-31", "baseRent": unit["targetRent"],
                "leaseBalance": 0.0, "contacts": [{"id": t["id"], "firstName": t["firstName"],
                                                   "lastName": t["lastName"], "primary": i == 0}
                                                  for i, t in enumerate(tenants)]})
            unit["leaseID"] = lease["id"]
        self._put("contacts", {"type": "VENDOR", "company": f"Plumbing Co {n}", "email": f"v{n}@example.com"})
        for w in range(rng.randint(1, 3)):
            self._put("workorders", {
                "number": 500 + len(self.records["workorders"]), "buildingID": building["id"],
                "portfolioID": portfolio["id"], "status": rng.choice(["Open", "Completed"]),
                "priority": rng.choice(["HIGH", "MEDIUM", "LOW"]), "type": "General",
                "description": f"Leaky faucet {w}", "costEstimate": 120.5, "unitIDs": []})
        return building

    def create(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A new record, as a user of Propertyware (or a POST) would create it."""
        record = self._put(resource, fields)
        record["createdBy"] = record["lastModifiedBy"] = "replay"
        return record

    def mutate(self, resource: str, record_id: int, **changes: Any) -> dict[str, Any]:
        """Change a record as a user of Propertyware would; its lastModifiedDateTime moves forward."""
        record = next(r for r in self.records[resource] if r["id"] == record_id)
        record.update(changes, lastModifiedBy="replay", lastModifiedDateTime=self._next_time())
        return record

    def visible(self, resource: str, include_deactivated: bool = True) -> list[dict[str, Any]]:
        return [r for r in self.records[resource] if include_deactivated or r.get("active", True)]


class PropertywareApi:
    """The route: checks the three headers, the parameters, filters, sorts and pages (see the module doc)."""

    def __init__(self, data: PropertywareData, *, client_secret: str = CLIENT_SECRET) -> None:
        self.data = data
        self.headers = {"x-propertyware-client-id": CLIENT_ID, "x-propertyware-client-secret": client_secret,
                        "x-propertyware-system-id": ORGANIZATION_ID}
        self._lock = threading.Lock()
        self._throttled = 0
        self.retry_after = 1.0
        self.served: dict[str, int] = dict.fromkeys(_FILTERS, 0)
        """Records answered per resource: what a sync actually read."""
        self.writes: list[Request] = []
        """Requests other than listings (one-record GETs, PUTs, POSTs), in order."""

    def throttle(self, requests: int, retry_after: float = 1.0) -> None:
        """Answer the next `requests` requests (any path) with 429 and `Retry-After: retry_after`."""
        with self._lock:
            self._throttled, self.retry_after = requests, retry_after

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            if self._throttled:
                self._throttled -= 1
                return Reply(429, {"errorCode": "TOO_MANY_REQUESTS", "userMessage": "Too many requests"},
                             headers={"Retry-After": f"{self.retry_after:g}"})
        if any(request.headers.get(name) != value for name, value in self.headers.items()):
            return _error(401, "UNAUTHORIZED", "The API client ID and secret weren't provided or are not valid.")
        resource = request.path.removeprefix(ROOT + "/")
        if request.method != "GET" or resource not in _FILTERS:
            self.writes.append(request)
            return writes.route(self.data, self._lock, request, resource)
        try:
            return self._list(resource, request.query)
        except ValueError as exc:
            return _error(400, "BAD_REQUEST", str(exc))

    def _list(self, resource: str, query: dict[str, str]) -> Reply:
        unknown = set(query) - _COMMON - _FILTERS[resource]
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", 100)), 500)
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        with self._lock:
            # Only the resources that take includeDeactivated hide deactivated records without it.
            hide = "includeDeactivated" in _FILTERS[resource] and query.get("includeDeactivated") != "true"
            rows = [dict(r) for r in self.data.visible(resource, include_deactivated=not hide)]
        since = _instant(query.get("lastModifiedDateTimeStart")) or datetime.min.replace(tzinfo=UTC)
        until = _instant(query.get("lastModifiedDateTimeEnd")) or datetime.max.replace(tzinfo=UTC)
        rows = [r for r in rows if since <= _modified(r) <= until]
        for name in ("buildingID", "portfolioID", "unitID", "leaseID"):
            if name in query:
                rows = [r for r in rows if str(r.get(name)) == query[name]]
        for name in ("type", "status", "priority"):
            if name in query:
                rows = [r for r in rows if r.get(name) == query[name]]
        for key, descending in reversed(_order(query.get("orderby", "id"))):
            rows.sort(key=lambda r: r[key], reverse=descending)  # generated records have every sortable key
        page = rows[offset:offset + limit]
        with self._lock:
            self.served[resource] += len(page)
        return Reply(body=page, headers={"X-Total-Count": str(len(rows))})


def _modified(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["lastModifiedDateTime"]).replace("Z", "+00:00"))


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid date-time {text!r}: expected YYYY-MM-dd'T'HH:mm:ssXXX") from None


def _order(orderby: str) -> list[tuple[str, bool]]:
    """`lastmodifieddatetime asc,id desc` → [(record key, descending)]; names are case-insensitive."""
    keys = {"id": "id", "lastmodifieddatetime": "lastModifiedDateTime", "createddate": "createdDateTime",
            "name": "name"}
    order = []
    for part in orderby.split(","):
        name, _, direction = part.strip().partition(" ")
        if name.lower() not in keys or direction.strip().lower() not in ("", "asc", "desc"):
            raise ValueError(f"cannot order by {part.strip()!r}")
        order.append((keys[name.lower()], direction.strip().lower() == "desc"))
    return order


@contextmanager
def serve(data: PropertywareData | None = None) -> Iterator[tuple[ReplayServer, PropertywareApi]]:
    """`with serve() as (server, api):` a running replay; the connector's base_url is `server.url + ROOT`."""
    api = PropertywareApi(data or PropertywareData())
    with ReplayServer(api) as server:
        yield server, api
