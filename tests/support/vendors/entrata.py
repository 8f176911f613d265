"""An Entrata replay on 127.0.0.1: generated records in Entrata's shapes, behind Entrata's contract.

Built from Entrata's published API definition (the generated client `mo05mAn/entrata_api_client`):
RPC over POST at `<org root>/properties|propertyunits|leases|leads`, one JSON envelope per call
(`auth.type` "apikey", `requestId`, `method.name` / `version` / `params`), the key in `X-Api-Key`,
answers wrapped in `{"response": {"requestId", "code", "result"}}`, paging with `page_no` /
`per_page` (5-1000) in the query for the methods Entrata pages, dates as `MM/DD/YYYY` in Mountain
Time, and `getLeads` filtered by `fromDate`/`toDate` (inclusive days) on the lead's last update.

What the tests need on top: a wrong key is a 401; a request that breaks the contract (wrong
envelope, method, version, missing or mistyped params) is a 200 carrying `response.error`, as
Entrata reports failures, so a connector that reads it as an empty page is caught; a per-second
budget (`max_per_second`) answers 429 with `Retry-After`; `touch_lead` / `add_lead` change data
between syncs; `updateCustomers` (r1, at `/customers`) changes a customer on every lease carrying
it, refusing params it does not serve; the `ReplayServer` counts requests per path. Records are generated from a seed.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from connectors.sdk.replay import ReplayServer, Reply, Request

MOUNTAIN = ZoneInfo("America/Denver")
ROOT = "/ext/orgs/acme/v1"
"""Path of the organisation's API root on the replay (base_url = server url + ROOT)."""
STAMP = "%m/%d/%Y %H:%M:%S"
METHODS = {"/properties": ("getProperties", "r1"), "/propertyunits": ("getPropertyUnits", "r1"),
           "/leases": ("getLeases", "r2"), "/leads": ("getLeads", "r1"), "/customers": ("updateCustomers", "r1")}
PAGED = {"getLeases", "getLeads"}
CUSTOMER_PARAMS = {"id", "firstName", "middleName", "lastName", "namePrefix", "nameSuffix", "maidenName", "email",
                   "birthDate"}
"""The updateCustomers r1 params the replay takes (the client's phone, address and id-document ones are not served)."""
LEASE_FIELDS = {"email": "emailAddress"}
"""An updateCustomers param -> the name getLeases answers it under, where they differ."""
LEASE_STATUSES = [(1, "Applicant"), (2, "Cancelled"), (3, "Future"), (4, "Current"), (5, "Notice"), (6, "Past")]
LEAD_STATUSES = [(1, "Guest Card Completed"), (3, "Application Started"), (6, "Application Approved"),
                 (9, "Cancelled")]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jonas"]
LAST = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hall", "Ito", "Jones"]


class EntrataReplay:
    """The route of the replay server; holds the data, which tests may change between syncs."""

    def __init__(self, api_key: str, *, seed: int = 7, properties: int = 5, units: int = 6, leases: int = 9,
                 leads: int = 12, history_days: int = 300, max_per_second: int | None = None) -> None:
        rng = random.Random(seed)
        self.api_key = api_key
        self.max_per_second = max_per_second
        self.now = datetime.now(MOUNTAIN)
        self.properties = [self._property(rng, 1000 + i) for i in range(properties)]
        self.units = {p["PropertyID"]: [self._unit(rng, p["PropertyID"], n) for n in range(units)]
                      for p in self.properties}
        self.leases = {pid: [self._lease(rng, pid, n, self.units[pid]) for n in range(leases)] for pid in self.units}
        self.leads = {pid: [self._lead(rng, pid, n, history_days) for n in range(leads)] for pid in self.units}
        self._next_lead = 900000
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self.throttled = 0
        """Requests answered 429 so far."""

    # --- generated records, in the response models' field names -----------------------------------

    @staticmethod
    def _property(rng: random.Random, pid: int) -> dict[str, Any]:
        city, state = rng.choice([("Denver", "CO"), ("Provo", "UT"), ("Austin", "TX"), ("Boise", "ID")])
        return {"PropertyID": pid, "MarketingName": f"{rng.choice(LAST)} Flats {pid}", "Type": "Apartment",
                "General_ID": f"GEN-{pid}", "YearBuilt": str(rng.randint(1970, 2022)),
                "webSite": f"https://www.example.com/p{pid}", "IsDisabled": "0",
                "IsFeaturedProperty": str(rng.randint(0, 1)),
                "Address": {"Address": f"{rng.randint(10, 9999)} Main St", "City": city, "State": state,
                            "PostalCode": f"{rng.randint(10000, 99999)}", "Country": "US",
                            "Email": f"office{pid}@example.com"},
                "ShortDescription": {"text": "Close to transit."}, "PostMonths": {"month": []}}

    @staticmethod
    def _unit(rng: random.Random, pid: int, n: int) -> dict[str, Any]:
        beds = rng.randint(0, 3)
        return {"id": pid * 100 + n, "unitNumber": f"{1 + n // 4}{n % 4 + 1:02d}", "buildingId": pid * 10 + n % 2,
                "buildingName": f"Building {'AB'[n % 2]}", "floorplanId": pid * 10 + beds,
                "floorplanName": f"{beds} Bed", "unitTypeId": beds + 1, "unitTypeName": f"{beds}x1",
                "noOfBedrooms": beds, "noOfBathrooms": rng.choice([1, 1.5, 2]), "squareFeet": 450 + 250 * beds,
                "isFurnished": 0, "isCorportateRented": 0, "numberOccupants": beds * 2 + 1, "maxPets": 2,
                "unitAvailabilityURL": f"https://www.example.com/u{pid}-{n}",
                "unitAddress": {"address": f"{n} Main St #{n}", "city": "Denver", "state": "CO"},
                "unitSpaces": {"unitSpace": [{"id": pid * 1000 + n, "status": "Occupied"}]}}

    def _lease(self, rng: random.Random, pid: int, n: int, units: list[dict[str, Any]]) -> dict[str, Any]:
        status_id, status = rng.choice(LEASE_STATUSES)
        unit = units[n % len(units)]
        move_in = (self.now - timedelta(days=rng.randint(30, 900))).date()
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {"id": pid * 1000 + n, "leaseStatusTypeId": status_id, "propertyId": pid,
                "propertyName": f"Property {pid}", "moveInDate": f"{move_in:%m/%d/%Y}",
                "moveOutDate": "" if status_id != 6 else f"{move_in + timedelta(days=365):%m/%d/%Y}",
                "transferDate": "", "leaseIntervalStatus": status, "occupancyTypeId": 1,
                "occupancyType": "Conventional", "isMonthToMonth": rng.randint(0, 1),
                "leaseIntervalId": pid * 10000 + n, "floorPlanId": unit["floorplanId"],
                "floorPlanName": unit["floorplanName"], "paymentAllowanceType": "Allow All",
                "spaceConfiguration": "Conventional", "unitId": unit["id"],
                "customers": {"customer": [{"id": pid * 5000 + n, "customerType": "Primary", "firstName": first,
                                            "lastName": last, "nameFull": f"{first} {last}",
                                            "emailAddress": f"{first}.{last}{n}@example.com".lower(),
                                            "leaseCustomerStatus": status}]},
                "unitSpaces": {"unitSpace": [{"id": pid * 1000 + n % len(units), "unitNumber": unit["unitNumber"]}]},
                "leaseIntervals": {"leaseInterval": [{"id": pid * 10000 + n, "startDate": f"{move_in:%m/%d/%Y}",
                                                      "endDate": f"{move_in + timedelta(days=365):%m/%d/%Y}"}]}}

    def _lead(self, rng: random.Random, pid: int, n: int, history_days: int) -> dict[str, Any]:
        # Updated strictly before today: an incremental sync today sees only what a test touches.
        updated = self.now - timedelta(days=rng.randint(1, history_days), minutes=rng.randint(0, 600))
        status_id, status = rng.choice(LEAD_STATUSES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {"applicationId": pid * 1000 + n, "status": status, "statusId": status_id, "leadSourceId": 3,
                "leadSource": rng.choice(["Zillow", "Website", "Walk-In"]), "leasingAgentId": 77,
                "leasingAgent": "Sam Agent", "psProductId": 1, "lastUpdatedDate": f"{updated:{STAMP}}",
                "createdOn": f"{updated - timedelta(days=2):%m/%d/%Y}", "spaceConfiguration": "Conventional",
                "lease": {"leaseId": "", "status": ""},
                "customers": {"customer": [{"customerId": pid * 7000 + n, "firstName": first, "lastName": last,
                                            "email": f"{first}{n}@example.com".lower()}]},
                "customerPreferences": {"desiredRent": {"min": 900, "max": 1400}}, "events": {"event": []}}

    # --- changes between syncs ---------------------------------------------------------------------

    def all_leads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [lead for leads in self.leads.values() for lead in leads]

    def touch_lead(self, application_id: int, status: str = "Application Completed") -> None:
        """The lead changes now (Mountain Time)."""
        with self._lock:
            lead = next(x for xs in self.leads.values() for x in xs if x["applicationId"] == application_id)
            lead["status"] = status
            lead["lastUpdatedDate"] = f"{datetime.now(MOUNTAIN):{STAMP}}"

    def add_lead(self, property_id: int) -> int:
        with self._lock:
            self._next_lead += 1
            template = dict(self.leads[property_id][0])
            template.update(applicationId=self._next_lead, status="Guest Card Completed",
                            lastUpdatedDate=f"{datetime.now(MOUNTAIN):{STAMP}}")
            self.leads[property_id].append(template)
            return self._next_lead

    # --- the contract ---------------------------------------------------------------------------

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("x-api-key") != self.api_key:
            return Reply(401, {"response": {"error": {"code": 401, "message": "Invalid API key."}}})
        if (limited := self._over_budget(request.at)) is not None:
            return limited
        service = request.path.removeprefix(ROOT)
        if request.method != "POST" or service not in METHODS or not request.path.startswith(ROOT):
            return Reply(404, {"response": {"error": {"code": 404, "message": "Not found."}}})
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return self._error(None, 400, "Request body is not JSON.")
        request_id = body.get("requestId")
        method = body.get("method") or {}
        if body.get("auth") != {"type": "apikey"} or request_id is None:
            return self._error(request_id, 400, "auth.type must be apikey and requestId is required.")
        if (method.get("name"), method.get("version")) != METHODS[service]:
            return self._error(request_id, 400, f"Method {method.get('name')} {method.get('version')} "
                                                f"is not available on {service}.")
        params = method.get("params") or {}
        page = self._page(method["name"], request.query)
        if isinstance(page, str):
            return self._error(request_id, 400, page)
        with self._lock:
            result = self._result(method["name"], params)
        if isinstance(result, str):
            return self._error(request_id, 400, result)
        key, records = result
        if page is not None:
            number, size = page
            records = records[(number - 1) * size:number * size]
        return Reply(body={"response": {"requestId": request_id, "code": 200, "result": key(records)}})

    def _over_budget(self, at: float) -> Reply | None:
        if self.max_per_second is None:
            return None
        with self._lock:
            while self._recent and at - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.max_per_second:
                self.throttled += 1
                return Reply(429, {"response": {"error": {"code": 429, "message": "Rate limit exceeded."}}},
                             headers={"Retry-After": "1"})
            self._recent.append(at)
        return None

    @staticmethod
    def _error(request_id: Any, code: int, message: str) -> Reply:
        """Entrata reports a failed call inside a 200 body."""
        return Reply(body={"response": {"requestId": request_id, "code": code,
                                        "error": {"code": code, "message": message}}})

    @staticmethod
    def _page(name: str, query: dict[str, str]) -> tuple[int, int] | str | None:
        if name not in PAGED:
            return "page_no is not supported by this method." if "page_no" in query else None
        try:
            number, size = int(query.get("page_no", "1")), int(query.get("per_page", "1000"))
        except ValueError:
            return "page_no and per_page must be integers."
        if number < 1 or not 5 <= size <= 1000:
            return "page_no starts at 1; per_page is 5 to 1000."
        return number, size

    def _result(self, name: str, params: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]] | str:
        """(wrap the page's records into the method's result, every record) or an error message."""
        if name == "getProperties":
            return (lambda rs: {"PhysicalProperty": {"Property": rs}}), list(self.properties)
        if name == "getPropertyUnits":
            pid = _int(params.get("propertyIds"))
            if pid not in self.units:
                return "propertyIds: one known property id is required."
            prop = {"propertyId": pid, "propertyName": f"Property {pid}", "unitCount": len(self.units[pid])}
            return (lambda rs: {"properties": {"property": {**prop, "units": {"unit": rs}}}}), list(self.units[pid])
        if name == "updateCustomers":
            return self._update_customer(params)
        pid = params.get("propertyId")
        if not isinstance(pid, int) or pid not in self.leases:
            return "propertyId is required and must be a known property id (a number)."
        if name == "getLeases":
            return (lambda rs: {"currencyCode": "USD", "leases": {"lease": rs}}), list(self.leases[pid])
        try:
            low = datetime.strptime(params["fromDate"], "%m/%d/%Y").date()
            high = datetime.strptime(params["toDate"], "%m/%d/%Y").date()
        except (KeyError, TypeError, ValueError):
            return "fromDate and toDate are required, as MM/DD/YYYY."
        found = [x for x in self.leads[pid] if low <= datetime.strptime(x["lastUpdatedDate"], STAMP).date() <= high]
        found.sort(key=lambda x: x["applicationId"])
        return (lambda rs: {"propertyId": pid, "currencyCode": "USD", "prospects": {"prospect": rs}}), found

    def _update_customer(self, params: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]] | str:
        """updateCustomers: the customer's fields change on every lease that carries it (caller holds the lock)."""
        customer_id = params.get("id")
        unknown = sorted(set(params) - CUSTOMER_PARAMS)
        if not isinstance(customer_id, int) or unknown:
            return f"id (a number) is required; unknown params {unknown}."
        if any(not isinstance(v, str) for k, v in params.items() if k != "id"):
            return "Every customer field is text."
        if "birthDate" in params:
            try:
                datetime.strptime(params["birthDate"], "%m/%d/%Y")
            except ValueError:
                return "birthDate must be MM/DD/YYYY."
        found = [c for leases in self.leases.values() for lease in leases
                 for c in lease["customers"]["customer"] if c["id"] == customer_id]
        if not found:
            return f"Customer {customer_id} was not found."
        for customer in found:
            customer.update({LEASE_FIELDS.get(k, k): v for k, v in params.items() if k != "id"})
            customer["nameFull"] = f"{customer['firstName']} {customer['lastName']}"
        answer = [{"node": "customer", "referenceId": str(customer_id), "status": "Success",
                   "message": "Customer updated successfully."}]
        return (lambda rs: {"customers": {"customer": rs}}), answer


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def serve(replay: EntrataReplay) -> ReplayServer:
    """`with serve(replay) as api:` the replay at `api.url + ROOT`."""
    return ReplayServer(replay)
