"""One customer's portfolio, vendor-neutral, and the same data in Buildium's and in Rent Manager's shapes.

The unified model's promise is that a customer lands the same tables whichever PMS holds their data.
To test it the data must really be the same: `Customer` is generated once (seeded), and
`as_buildium` / `as_rent_manager` render every record in that vendor's own field names, vocabularies
and formats (Buildium: `LeaseStatus` Active/Past/Future, tenants inside leases, `IsUnitOccupied`;
Rent Manager: `IsVacant`, leases with `TenantID`, naive local timestamps, `IsClosed` issues). The
replays of tests/support/vendors/ then serve those records (`serve_buildium`, `serve_rent_manager`)
with their own auth, paging and filters. Work orders are open or closed only: Rent Manager says
more only through customer-defined status ids, which no default can know.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support.vendors.buildium import BuildiumApi
from tests.support.vendors.rent_manager import RentManagerApi, rm_time

Record = dict[str, Any]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana"]
LAST = ["Ortiz", "Nguyen", "Smith", "Okafor", "Berg", "Silva", "Khan", "Moreau"]


@dataclass
class Customer:
    properties: list[Record] = field(default_factory=list)
    units: list[Record] = field(default_factory=list)
    residents: list[Record] = field(default_factory=list)
    leases: list[Record] = field(default_factory=list)
    work_orders: list[Record] = field(default_factory=list)


def customer(seed: int = 3, properties: int = 3, units_per_property: int = 3) -> Customer:
    rng = random.Random(seed)
    c = Customer()
    clock = iter(datetime(2024, 2, 1, 9, tzinfo=UTC) + timedelta(minutes=37 * i) for i in range(10_000))
    for p in range(properties):
        pid = 1001 + p
        c.properties.append({"id": pid, "name": f"Harbor Court {pid}", "units": units_per_property,
                             "updated": next(clock)})
        for u in range(units_per_property):
            uid = pid * 100 + u
            occupied = u != 0
            c.units.append({"id": uid, "property_id": pid, "number": f"{u + 1:02d}", "sqft": rng.choice([650, 820]),
                            "occupied": occupied, "updated": next(clock)})
            if not occupied:
                continue
            rid = uid * 10
            c.residents.append({"id": rid, "property_id": pid, "first": rng.choice(FIRST), "last": rng.choice(LAST),
                                "updated": next(clock)})
            state = rng.choice(["active", "active", "past", "future"])
            move_in = date(2023, 1, 1) + timedelta(days=rng.randint(0, 400))
            c.leases.append({"id": uid * 10 + 1, "property_id": pid, "unit_id": uid, "resident_id": rid,
                             "state": state, "move_in": move_in,
                             "move_out": move_in + timedelta(days=365) if state == "past" else None,
                             "rent": float(rng.randrange(900, 2000, 25)), "updated": next(clock)})
            c.work_orders.append({"id": uid * 10 + 7, "property_id": pid, "unit_id": uid,
                                  "description": rng.choice(["Leaking faucet", "No heat"]),
                                  "closed": rng.random() < 0.5, "updated": next(clock)})
    return c


def as_buildium(c: Customer) -> tuple[dict[str, list[Record]], dict[tuple[str, int], datetime]]:
    """(records per Buildium stream, hidden update time per (stream, Id)) of the customer."""
    status = {"active": "Active", "past": "Past", "future": "Future"}
    stamps: dict[tuple[str, int], datetime] = {}

    def put(stream: str, record: Record, when: datetime) -> Record:
        stamps[(stream, record["Id"])] = when
        return record

    leases_of = {lease["resident_id"]: lease for lease in c.leases}
    return {
        "rentals": [put("rentals", {"Id": p["id"], "Name": p["name"], "NumberUnits": p["units"], "IsActive": True,
                                    "RentalType": "Residential"}, p["updated"]) for p in c.properties],
        "units": [put("units", {"Id": u["id"], "PropertyId": u["property_id"], "UnitNumber": u["number"],
                                "UnitSize": u["sqft"], "IsUnitOccupied": u["occupied"],
                                "IsUnitListed": not u["occupied"]}, u["updated"]) for u in c.units],
        "tenants": [put("tenants", {"Id": r["id"], "FirstName": r["first"], "LastName": r["last"],
                                    "Leases": [{"Id": leases_of[r["id"]]["id"], "PropertyId": r["property_id"],
                                                "UnitId": leases_of[r["id"]]["unit_id"]}]}, r["updated"])
                    for r in c.residents],
        "leases": [put("leases", {
            "Id": lease["id"], "PropertyId": lease["property_id"], "UnitId": lease["unit_id"],
            "LeaseStatus": status[lease["state"]], "LeaseFromDate": lease["move_in"].isoformat(),
            "AccountDetails": {"SecurityDeposit": 500.0, "Rent": lease["rent"]},
            "Tenants": [{"Id": lease["resident_id"], "Status": "Current", "MoveInDate": lease["move_in"].isoformat()}],
            "MoveOutData": [] if lease["move_out"] is None else [
                {"TenantId": lease["resident_id"], "MoveOutDate": lease["move_out"].isoformat()}],
            "LastUpdatedDateTime": lease["updated"].strftime("%Y-%m-%dT%H:%M:%SZ")}, lease["updated"])
            for lease in c.leases],
        "work_orders": [put("work_orders", {
            "Id": w["id"], "Task": {"Id": w["id"] + 1, "UnitId": w["unit_id"], "Status": "Completed"},
            "Status": "Completed" if w["closed"] else "New", "WorkDetails": w["description"], "Priority": "Normal"},
            w["updated"]) for w in c.work_orders],
    }, stamps


def as_rent_manager(c: Customer) -> dict[str, list[Record]]:
    """Records per Rent Manager resource; timestamps naive, in UTC (the connection's `timezone` left out)."""
    def audit(when: datetime) -> Record:
        return {"CreateDate": rm_time(when - timedelta(days=30)), "UpdateDate": rm_time(when)}

    def moment(day: date | None) -> str | None:
        return None if day is None else rm_time(datetime(day.year, day.month, day.day))

    return {
        "Properties": [{"PropertyID": p["id"], "Name": p["name"], "ShortName": f"P{p['id']}", "IsActive": True,
                        **audit(p["updated"])} for p in c.properties],
        "Units": [{"UnitID": u["id"], "PropertyID": u["property_id"], "Name": u["number"],
                   "SquareFootage": u["sqft"], "IsVacant": not u["occupied"], **audit(u["updated"])} for u in c.units],
        "Tenants": [{"TenantID": r["id"], "PropertyID": r["property_id"], "FirstName": r["first"],
                     "LastName": r["last"], "Name": f"{r['last']}, {r['first']}", **audit(r["updated"])}
                    for r in c.residents],
        "Leases": [{"LeaseID": lease["id"], "TenantID": lease["resident_id"], "UnitID": lease["unit_id"],
                    "PropertyID": lease["property_id"], "MoveInDate": moment(lease["move_in"]),
                    "MoveOutDate": moment(lease["move_out"]), "IsMoveOutConfirmed": lease["move_out"] is not None,
                    **audit(lease["updated"])} for lease in c.leases],
        "ServiceManagerIssues": [{"ServiceManagerIssueID": w["id"], "PropertyID": w["property_id"],
                                  "UnitID": w["unit_id"], "Title": w["description"], "Description": w["description"],
                                  "IsClosed": w["closed"], **audit(w["updated"])} for w in c.work_orders],
    }


def serve_buildium(c: Customer) -> BuildiumApi:
    """A Buildium replay whose data is exactly the customer's (its own generated records replaced)."""
    api = BuildiumApi(properties=0)
    api.records, api.updated = as_buildium(c)
    return api


def serve_rent_manager(c: Customer, *, username: str, password: str) -> RentManagerApi:
    """A Rent Manager replay whose data is exactly the customer's."""
    api = RentManagerApi(username=username, password=password, properties=0)
    api.data = as_rent_manager(c)
    return api
