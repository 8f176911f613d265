"""A Rent Manager 12 Web API replay on 127.0.0.1: generated records in the API's shape, its auth, paging and filters.

What the `rent_manager` connector must cope with, as the public clients and observations describe
the API: `POST /Authentication/AuthorizeUser` with `{Username, Password, LocationID}` answers the
token as a JSON string; every other request needs it in `X-RM12Api-ApiToken` (401 with the API's
ErrorModel otherwise). Collections (`/Tenants`, and per property `/Properties/{id}/Tenants`) are
top-level arrays paged by `pagesize`/`pagenumber` with `X-Total-Results`/`X-Results`, filtered by
`filters=Field,op,value;...` (naive local timestamps: an offset or `Z` is a 400, as is an unknown
field), answer 204 with no body when nothing matches, and carry `X-RateLimit-*` headers. Null fields
are left out, as the API does. `throttle(n)` answers the next n data requests 429 with Retry-After;
`touch` changes records between syncs; `served` counts the records each path returned. Writes: `POST
/Tenants`, `/Units` and `/ServiceManagerIssues` with an object or a list of them (a save: with its
key it updates that record's given properties, without it creates one), checked here as the replay's
model of Rent Manager's validation (a property it does not save, a missing required one or an
unknown key is a 400 with ModelState); a saved record's UpdateDate moves past every other, so the
next incremental sync reads it.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson

from tests.support.http_api import Reply, Request

BASE_TIME = datetime(2024, 1, 1, 8, 0, 0)
"""UpdateDate of a stream's first record; each next record one hour later (naive: the database's local time)."""
RESOURCES = {"properties": "Properties", "units": "Units", "tenants": "Tenants", "leases": "Leases",
             "service_manager_issues": "ServiceManagerIssues"}
KEYS = {"Properties": "PropertyID", "Units": "UnitID", "Tenants": "TenantID", "Leases": "LeaseID",
        "ServiceManagerIssues": "ServiceManagerIssueID"}
RATE_LIMIT = 500
"""Requests per rolling minute, as Rent Manager answers in X-RateLimit-Limit."""
SAVABLE: dict[str, tuple[set[str], set[str]]] = {
    "Tenants": ({"PropertyID", "FirstName", "LastName", "Status"}, {"PropertyID", "LastName"}),
    "Units": ({"PropertyID", "Name", "Comment", "SquareFootage", "UnitTypeID"}, {"PropertyID", "Name", "UnitTypeID"}),
    "ServiceManagerIssues": ({"PropertyID", "Title", "Description", "StatusID", "PriorityID", "CategoryID", "UnitID",
                              "TenantID", "DueDate"}, {"PropertyID", "Title", "CategoryID"}),
}
"""Per collection: the properties a save may set (besides the key) and those a create must give."""
_PER_PROPERTY = re.compile(r"^/Properties/(\d+)/(\w+)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}


def rm_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def error_model(message: str, exception: str = "ApiAuthenticationException") -> dict[str, Any]:
    return {"DeveloperMessage": message, "UserMessage": "Authentication Failed.", "ErrorCode": -2146233088,
            "Exception": exception}


class RentManagerApi:
    """The route of a `ReplayServer`: one customer's Rent Manager database, generated from `seed`."""

    def __init__(self, *, username: str, password: str, location_id: int = 1, seed: int = 12,
                 properties: int = 5, units_per_property: int = 4) -> None:
        self.credentials = {"Username": username, "Password": password, "LocationID": location_id}
        self.data = generate(random.Random(seed), properties, units_per_property)
        self.served: Counter[str] = Counter()
        self.logins = 0
        self._tokens: set[str] = set()
        self._throttled: deque[float] = deque()
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    # --- test controls -----------------------------------------------------------------------------

    def records(self, stream: str) -> list[dict[str, Any]]:
        """The current records of a stream (by connector stream name), as the API would list them."""
        return self.data[RESOURCES[stream]]

    def touch(self, stream: str, ids: list[int], at: datetime, **changes: Any) -> None:
        """Update records: set `changes` and UpdateDate = `at` (naive local time)."""
        key = KEYS[RESOURCES[stream]]
        with self._lock:
            for record in self.records(stream):
                if record[key] in ids:
                    record.update(changes, UpdateDate=rm_time(at))

    def throttle(self, requests: int, retry_after: float) -> None:
        """Answer the next `requests` data requests 429 with `Retry-After: retry_after`."""
        with self._lock:
            self._throttled.extend([retry_after] * requests)

    # --- the API -----------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Reply:
        if request.path == "/Authentication/AuthorizeUser":
            return self._login(request)
        with self._lock:
            if request.headers.get("x-rm12api-apitoken") not in self._tokens:
                return Reply(401, error_model("The ApiToken could not be validated."))
            if self._throttled:
                wait = self._throttled.popleft()
                return Reply(429, error_model("Rate limit exceeded", "ApiRateLimitException"),
                             headers={"Retry-After": f"{wait:g}"})
            limits = self._rate_headers()
        matched = _PER_PROPERTY.match(request.path)
        resource = matched.group(2) if matched else request.path.strip("/")
        if resource not in KEYS or (request.method == "POST" and (matched or resource not in SAVABLE)):
            return Reply(404, {"Message": f"No HTTP resource was found that matches the request URI {request.path}"})
        if request.method == "POST":
            return self._save(resource, request, limits)
        with self._lock:
            rows = list(self.data[resource])
        if matched:
            pid = int(matched.group(1))
            if not any(p["PropertyID"] == pid for p in self.data["Properties"]):
                return Reply(404, headers=limits)
            rows = [r for r in rows if r.get("PropertyID") == pid]
        try:
            rows = [r for r in rows if all(test(r) for test in parse_filters(request.query.get("filters", "")))]
        except ValueError as exc:
            return Reply(400, {"Message": "The request is invalid.", "ModelState": {"filters": [str(exc)]}})
        size = int(request.query.get("pagesize", "1000"))
        number = int(request.query.get("pagenumber", "1"))
        page = rows[(number - 1) * size:number * size]
        with self._lock:
            self.served[request.path] += len(page)
        headers = {**limits, "X-Total-Results": str(len(rows)), "X-Results": str(len(page))}
        if not page:
            return Reply(204, headers=headers)
        return Reply(body=[{k: v for k, v in r.items() if v is not None} for r in page], headers=headers)

    def _save(self, resource: str, request: Request, limits: dict[str, str]) -> Reply:
        try:
            sent = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return Reply(400, {"Message": "The request is invalid.", "ModelState": {"body": ["not JSON"]}})
        items = sent if isinstance(sent, list) else [sent]
        key, (allowed, required) = KEYS[resource], SAVABLE[resource]
        with self._lock:
            records = {r[key]: r for r in self.data[resource]}
            for item in items:
                problem = _save_problem(item, key, allowed, required, records)
                if problem:
                    return Reply(400, {"Message": "The request is invalid.", "ModelState": {resource: [problem]}},
                                 headers=limits)
            latest = max(datetime.fromisoformat(r["UpdateDate"]) for r in self.data[resource])
            saved = []
            for n, item in enumerate(items, start=1):
                stamp = rm_time(latest + timedelta(hours=n))
                record = records.get(item.get(key))
                if record is None:
                    record = {key: max(records, default=0) + n, "CreateDate": stamp, "CreateUserID": 1}
                    self.data[resource].append(record)
                record.update(item, UpdateDate=stamp, UpdateUserID=1)
                saved.append({k: v for k, v in record.items() if v is not None})
        return Reply(body=saved, headers=limits)

    def _login(self, request: Request) -> Reply:
        try:
            sent = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            sent = None
        if request.method != "POST" or sent != self.credentials:
            return Reply(401, error_model("Invalid username or password."))
        with self._lock:
            self.logins += 1
            token = f"rm12-token-{self.logins:04d}-c0ffee"
            self._tokens.add(token)
        return Reply(body=token)

    def _rate_headers(self) -> dict[str, str]:
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - 60:
            self._recent.popleft()
        remaining = max(0, RATE_LIMIT - len(self._recent))
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 60)}


def _save_problem(item: Any, key: str, allowed: set[str], required: set[str],
                  records: dict[int, dict[str, Any]]) -> str | None:
    """Why the replay's Rent Manager refuses to save `item`, or None."""
    if not isinstance(item, dict):
        return "each saved item must be an object"
    if key in item and item[key] not in records:
        return f"{key} {item[key]} was not found"
    unknown = sorted(set(item) - allowed - {key})
    if unknown:
        return f"The property {unknown[0]} cannot be saved"
    missing = sorted(required - set(item)) if key not in item else []
    if missing:
        return f"The {missing[0]} field is required"
    return None


def parse_filters(text: str) -> list[Callable[[dict[str, Any]], bool]]:
    """`UpdateDate,gt,2024-03-05T10:00:00;PropertyID,eq,3` as record tests (ValueError on what the API refuses)."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for part in filter(None, text.split(";")):
        field, op, value = (part.split(",", 2) + ["", ""])[:3]
        if field not in FILTERABLE or op not in _OPS:
            raise ValueError(f"Error parsing filter '{part}': Field is not available for filtering.")
        cast, compare = FILTERABLE[field], _OPS[op]
        tests.append(_test(field, compare, cast(value), cast))
    return tests


def _test(field: str, compare: Callable[[Any, Any], bool], wanted: Any,
          cast: Callable[[Any], Any]) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record.get(field) is not None and compare(cast(record[field]), wanted)


def _local_time(value: Any) -> datetime:
    """A filter's date-time: the database's naive local time; an offset or `Z` is refused (times have no zone)."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        raise ValueError(f"Error parsing filter value '{value}': The value is not a valid DateTime.")
    return moment


FILTERABLE: dict[str, Callable[[Any], Any]] = {
    "UpdateDate": _local_time, "CreateDate": _local_time, "PropertyID": int, "Status": str}


def generate(rng: random.Random, properties: int, units_per_property: int) -> dict[str, list[dict[str, Any]]]:
    """Deterministic records in Rent Manager's shapes, every stream's UpdateDates one hour apart."""
    first = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana"]
    last = ["Ortiz", "Nguyen", "Smith", "Okafor", "Berg", "Silva", "Khan", "Moreau"]
    data: dict[str, list[dict[str, Any]]] = {name: [] for name in KEYS}

    def audit(resource: str) -> dict[str, Any]:
        at = BASE_TIME + timedelta(hours=len(data[resource]))
        return {"CreateDate": rm_time(at - timedelta(days=30)), "CreateUserID": 1, "UpdateDate": rm_time(at),
                "UpdateUserID": rng.randint(1, 9)}

    for pid in range(1, properties + 1):
        data["Properties"].append({"PropertyID": pid, "Name": f"Property {pid}", "ShortName": f"P{pid:02d}",
                                   "PropertyType": rng.choice(["Residential", "Commercial"]), "IsActive": True,
                                   "Email": f"office{pid}@example.com", "Phone": None, "ConcurrencyID": 1,
                                   **audit("Properties")})
        for n in range(1, units_per_property + 1):
            uid = len(data["Units"]) + 1
            data["Units"].append({"UnitID": uid, "PropertyID": pid, "UnitTypeID": rng.randint(1, 3),
                                  "Name": f"{n:02d}{pid}", "Comment": None,
                                  "SquareFootage": rng.choice([650, 820, 1100]), "IsVacant": False, **audit("Units")})
            status = rng.choice(["Current", "Current", "Past", "Future"])
            tid = len(data["Tenants"]) + 1
            f, la = rng.choice(first), rng.choice(last)
            move_in = datetime(2023, rng.randint(1, 12), 1)
            move_out = move_in + timedelta(days=365) if status == "Past" else None
            data["Tenants"].append({"TenantID": tid, "TenantDisplayID": 1000 + tid, "PropertyID": pid,
                                    "Name": f"{la}, {f}", "FirstName": f, "LastName": la, "Status": status,
                                    "PostingStartDate": rm_time(move_in),
                                    "PostingEndDate": rm_time(move_out) if move_out else None, **audit("Tenants")})
            data["Leases"].append({
                "LeaseID": len(data["Leases"]) + 1, "TenantID": tid, "UnitID": uid, "PropertyID": pid,
                "MoveInDate": rm_time(move_in), "MoveOutDate": rm_time(move_out) if move_out else None,
                "ExpectedMoveOutDate": None, "NoticeDate": None, "IsMoveOutConfirmed": move_out is not None,
                "IsCommercial": False, **audit("Leases")})
            if n % 2 == 0:
                data["ServiceManagerIssues"].append({
                    "ServiceManagerIssueID": len(data["ServiceManagerIssues"]) + 1, "PropertyID": pid, "UnitID": uid,
                    "TenantID": tid, "Title": rng.choice(["Leaking faucet", "No heat", "Broken blind"]),
                    "Description": "Reported by the resident.", "StatusID": rng.randint(1, 3), "PriorityID": 2,
                    "CategoryID": 4, "OpenDate": rm_time(move_in + timedelta(days=40)), "DueDate": None,
                    "CloseDate": None, "IsClosed": False, **audit("ServiceManagerIssues")})
    return data
