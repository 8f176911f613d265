"""Deterministic sandbox records: record `i` of a stream is a pure function of (seed, stream, i).

The sandbox must serve millions of records with flat memory, so nothing is stored: a page renders
its records on demand from a cheap integer hash (splitmix64) instead of a seeded `random.Random`
per record, which would be ~20x slower. The edits a mutation applies to a record are pure functions
of a hash too, so the dataset's overlay only has to remember *which* mutation touched a record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from connectors.sandbox.schema import (
    LEASE_STATUSES,
    PROPERTY_TYPES,
    STREAM_NAMES,
    UNIT_STATUSES,
    WORK_ORDER_CATEGORIES,
)

Record = dict[str, Any]
Maker = Callable[[int], Record]

_M64 = (1 << 64) - 1
EPOCH = 1672531200
"""2023-01-01T00:00:00Z: base `updated_at` of a stream's record i is EPOCH + offset + i * step."""
BASE_END = 1735689600
"""2025-01-01T00:00:00Z: every base timestamp lies before it (so, in the past)."""
MAX_STEP = 7
DAY = 86400


def mix(x: int) -> int:
    """splitmix64's finaliser: consecutive inputs give independent-looking 64-bit outputs."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


_UNIX_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS: dict[int, str] = {}
# Preformatted "Thh:mm:" (1,440) and "ssZ" (60): formatting a timestamp is then two list hits and
# concatenations, about 10x cheaper than datetime.strftime on the hot path and as fast as a table of
# all 86,400 times of day, which cost ~60 ms to build at import (every sandbox sync paid it).
_HOURS_MINUTES = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}Z" for s in range(60)]


def day_str(day: int) -> str:
    """Days since 1970-01-01 as "YYYY-MM-DD" (cached: a dataset only spans a few thousand days)."""
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = date.fromordinal(_UNIX_ORDINAL + day).isoformat()
    return text


def iso(seconds: int) -> str:
    """Unix seconds as ISO-8601 UTC with a "Z", e.g. "2024-03-01T12:00:00Z"."""
    day, rest = divmod(seconds, DAY)
    return day_str(day) + _HOURS_MINUTES[rest // 60] + _SECONDS[rest % 60]


def step_for(count: int, stream: str) -> int:
    """Seconds between consecutive base `updated_at`s: 7, or less so that `count` fits before 2025."""
    step = min(MAX_STEP, (BASE_END - EPOCH - 60) // (count + 1))
    if step < 1:
        raise ValueError(f"{stream}: {count} records do not fit the sandbox's time range "
                         f"(at most {BASE_END - EPOCH - 61})")
    return step


def _weighted(**weights: int) -> tuple[str, ...]:
    """A lookup table in which each value appears `weight` times (index it with a hash)."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


_NAME_A = ("Maple", "Cedar", "Willow", "Oak", "Birch", "Aspen", "Harbor", "Summit", "River", "Lake",
           "Meadow", "Stone", "Park", "Pine", "Elm", "Sierra", "Bay", "Heritage", "Vista", "Canyon")
_NAME_B = ("Apartments", "Commons", "Lofts", "Residences", "Villas", "Flats", "Terrace", "Place",
           "Gardens", "Crossing", "Pointe", "Square")
_STREETS = ("Main St", "Oak Ave", "Elm St", "Park Blvd", "Lake Dr", "Hill Rd", "Cedar Ln", "River Rd",
            "Market St", "2nd Ave", "Sunset Blvd", "College Ave", "Pine St", "Mill Rd", "Church St",
            "Broadway")
_CITIES = (("Austin", "TX", "787"), ("Dallas", "TX", "752"), ("Houston", "TX", "770"),
           ("Denver", "CO", "802"), ("Phoenix", "AZ", "850"), ("Atlanta", "GA", "303"),
           ("Charlotte", "NC", "282"), ("Nashville", "TN", "372"), ("Tampa", "FL", "336"),
           ("Orlando", "FL", "328"), ("Raleigh", "NC", "276"), ("Columbus", "OH", "432"),
           ("Seattle", "WA", "981"), ("Portland", "OR", "972"), ("Chicago", "IL", "606"),
           ("Minneapolis", "MN", "554"))
_FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
          "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
          "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sofia", "Mark", "Aisha",
          "Wei", "Priya", "Luis", "Emily")
_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
         "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
         "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Nguyen", "Patel",
         "Kim", "Chen", "Walker", "Young")
_AMENITIES = ("Balcony", "Washer/Dryer", "Dishwasher", "Fireplace", "Walk-in Closet", "Hardwood Floors",
              "Parking", "Pet Friendly")
_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "Plumbing": ("Kitchen sink is leaking", "Toilet runs constantly", "Low water pressure in shower",
                 "Bathtub drain clogged"),
    "Electrical": ("Outlet in bedroom not working", "Breaker keeps tripping", "Ceiling light flickers",
                   "GFCI outlet will not reset"),
    "HVAC": ("AC not cooling", "Furnace makes loud noise", "Thermostat unresponsive",
             "Air filter replacement"),
    "Appliance": ("Dishwasher does not drain", "Refrigerator too warm", "Oven will not heat",
                  "Washer leaks water"),
    "PestControl": ("Ants in kitchen", "Mice in storage closet", "Roaches under sink",
                    "Wasp nest on balcony"),
    "General": ("Front door sticks", "Window screen torn", "Cabinet hinge broken", "Smoke detector beeping"),
    "Landscaping": ("Overgrown hedge by entrance", "Sprinkler head broken", "Fallen branch on walkway",
                    "Dead grass patch"),
    "Cleaning": ("Carpet stain after move-out", "Mold on bathroom ceiling", "Trash chute odor",
                 "Pressure wash patio"),
}
_UNIT_STATUS = _weighted(Occupied=14, Vacant=3, Notice=2, Down=1)
_LEASE_STATUS = _weighted(Current=11, Notice=2, Past=4, Future=2, Evicted=1)
_PRIORITY = _weighted(Low=7, Medium=8, High=4, Emergency=1)
_WO_STATUS = _weighted(Open=3, Assigned=2, InProgress=3, Completed=10, Cancelled=2)
_PROPERTY_TYPE = _weighted(**{t: w for t, w in zip(PROPERTY_TYPES, (10, 3, 2, 2, 2, 1), strict=True)})
_D2018 = (date(2018, 1, 1).toordinal() - _UNIX_ORDINAL)
_D2021 = (date(2021, 1, 1).toordinal() - _UNIX_ORDINAL)
_D2022 = (date(2022, 1, 1).toordinal() - _UNIX_ORDINAL)
_D1950 = (date(1950, 1, 1).toordinal() - _UNIX_ORDINAL)
assert set(_UNIT_STATUS) == set(UNIT_STATUSES) and set(_LEASE_STATUS) == set(LEASE_STATUSES)
assert set(_DESCRIPTIONS) == set(WORK_ORDER_CATEGORIES)


def _money(cents: int) -> float:
    # cents / 100 is the double nearest the decimal, so JSON shows at most 2 decimals.
    return cents / 100


def _unit_number(k: int) -> str:
    """The k-th unit (0-based) of its property: floor 1.., 24 units per floor, e.g. "204"."""
    return f"{k // 24 + 1}{k % 24 + 1:02d}"


class RecordFactory:
    """Renders base records and applies mutation edits for one (seed, counts) dataset."""

    def __init__(self, seed: int, counts: Mapping[str, int]) -> None:
        self.counts = dict(counts)
        self._p, self._u, self._r = counts["properties"], counts["units"], counts["residents"]
        root = mix(seed & _M64)
        self.keys = {s: mix(root ^ ((k + 1) * 0x9E3779B97F4A7C15 & _M64)) for k, s in enumerate(STREAM_NAMES)}
        self.steps = {s: step_for(counts[s], s) for s in STREAM_NAMES}
        # A per-stream offset (< step) keeps streams' timestamps apart without breaking monotonicity.
        self.origins = {s: EPOCH + min(k, self.steps[s] - 1) for k, s in enumerate(STREAM_NAMES)}
        # One tuple per stream: a single lookup per rendered record instead of three.
        self._params = {s: (self.keys[s], self.origins[s], self.steps[s]) for s in STREAM_NAMES}
        self._makers: dict[str, Maker] = {"properties": self._property, "units": self._unit,
                                          "residents": self._resident, "leases": self._lease,
                                          "work_orders": self._work_order}

    def base_ts(self, stream: str, i: int) -> int:
        """Base `updated_at` (unix seconds) of record i: strictly increasing with i."""
        return self.origins[stream] + i * self.steps[stream]

    def maker(self, stream: str) -> Maker:
        return self._makers[stream]

    def _property(self, i: int) -> Record:
        key, origin, step = self._params["properties"]
        h = mix(key + i)
        g = mix(h)
        ts = origin + i * step
        city, state, zip3 = _CITIES[(h >> 40) % len(_CITIES)]
        units = self._u // self._p + (1 if i - 1 < self._u % self._p else 0)
        return {"id": i, "name": f"{_NAME_A[h % 20]} {_NAME_B[(h >> 8) % 12]}",
                "code": f"{_NAME_A[h % 20][:2].upper()}{i:04d}",
                "address": {"street": f"{(h >> 16) % 9800 + 100} {_STREETS[(h >> 30) % 16]}", "city": city,
                            "state": state, "zip": f"{zip3}{(h >> 50) % 100:02d}"},
                "property_type": _PROPERTY_TYPE[g % 20], "unit_count": units,
                "created_at": iso(ts - DAY - (g >> 8) % (8 * 365 * DAY)), "updated_at": iso(ts), "deleted_at": None}

    def _unit(self, i: int) -> Record:
        key, origin, step = self._params["units"]
        h = mix(key + i)
        ts = origin + i * step
        bedrooms = h % 4
        mask = (h >> 40) & (h >> 48) & 0xFF  # each amenity ~25%, none at all ~10%
        return {"id": i, "property_id": (i - 1) % self._p + 1, "unit_number": _unit_number((i - 1) // self._p),
                "bedrooms": bedrooms, "bathrooms": max(1, bedrooms) + (0.5 if (h >> 2) & 1 else 0.0),
                "square_feet": 450 + bedrooms * 250 + (h >> 8) % 200,
                "market_rent": _money((900 + bedrooms * 350 + (h >> 16) % 400) * 100 + ((h >> 24) % 4) * 25),
                "status": _UNIT_STATUS[(h >> 32) % 20],
                "amenities": [a for b, a in enumerate(_AMENITIES) if mask >> b & 1],
                "updated_at": iso(ts), "deleted_at": None}

    def _resident(self, i: int) -> Record:
        key, origin, step = self._params["residents"]
        h = mix(key + i)
        g = mix(h)
        first, last = _FIRST[h % 32], _LAST[(h >> 8) % 32]
        ts = origin + i * step
        return {"id": i, "first_name": first, "last_name": last,
                "email": None if (h >> 16) % 100 < 8 else f"{first.lower()}.{last.lower()}{i}@example.com",
                "phone": None if (h >> 24) % 100 < 15 else f"+1-555-{(h >> 32) % 900 + 100}-{(h >> 42) % 10000:04d}",
                "date_of_birth": None if g % 100 < 10 else day_str(_D1950 + (g >> 8) % 20000),
                "updated_at": iso(ts), "deleted_at": None}

    def _lease(self, i: int) -> Record:
        key, origin, step = self._params["leases"]
        h = mix(key + i)
        g = mix(h)
        ts = origin + i * step
        status = _LEASE_STATUS[(h >> 40) % 20]
        today = ts // DAY
        end: int | None
        if status in ("Past", "Evicted"):
            start = _D2018 + g % 1460
            end = start + (60 + (g >> 12) % 300 if status == "Evicted" else (365, 182, 730)[(g >> 12) % 3])
        elif status == "Current":
            start = _D2022 + g % 330
            end = None if (g >> 12) % 4 == 0 else start + 365
        elif status == "Notice":
            start = _D2021 + g % 600
            end = today + 30 + (g >> 12) % 60
        else:  # Future: signed, not started yet
            start = today + 15 + g % 90
            end = start + 365
        rent = (950 + (h >> 20) % 2500) * 100 + (0, 25, 50, 99)[(h >> 34) % 4]
        deposit = (rent, rent, 50000, 100000)[(h >> 36) % 4]
        return {"id": i, "unit_id": h % self._u + 1, "resident_id": (h >> 48) % self._r + 1, "status": status,
                "rent": _money(rent), "deposit": _money(deposit), "start_date": day_str(start),
                "end_date": None if end is None else day_str(end), "move_in_date": day_str(start + (g >> 50) % 3),
                "updated_at": iso(ts), "deleted_at": None}

    def _work_order(self, i: int) -> Record:
        key, origin, step = self._params["work_orders"]
        h = mix(key + i)
        g = mix(h)
        ts = origin + i * step
        unit = h % self._u + 1
        category = WORK_ORDER_CATEGORIES[(h >> 20) & 7]
        status = _WO_STATUS[(h >> 24) % 20]
        completed = cost = None
        if status == "Completed":
            completed = iso(ts - (g >> 32) % 3600)
            cost = _money(2500 + (g >> 40) % 247500)
        return {"id": i, "property_id": (unit - 1) % self._p + 1, "unit_id": unit, "category": category,
                "priority": _PRIORITY[(h >> 28) % 20], "status": status,
                "description": f"{_DESCRIPTIONS[category][(h >> 33) & 3]} (unit {_unit_number((unit - 1) // self._p)})",
                "cost": cost, "created_at": iso(ts - 3600 - g % (30 * DAY)), "completed_at": completed,
                "updated_at": iso(ts), "deleted_at": None}

    def fresh(self, stream: str, record: Record, at: int) -> None:
        """Turn a generated record into one just created at `at` (a mutation's insert)."""
        stamp = iso(at)
        record["updated_at"] = stamp
        if "created_at" in record:
            record["created_at"] = stamp
        if stream == "work_orders":
            record.update(status="Open", completed_at=None, cost=None)
        elif stream == "leases":
            start = at // DAY
            record.update(status="Current", start_date=day_str(start), end_date=day_str(start + 365),
                          move_in_date=day_str(start))

    def edit(self, stream: str, record: Record, h: int, at: int) -> None:
        """Apply one mutation's update (chosen by hash `h`) to `record`, made at `at`."""
        if stream == "properties":
            record["name"] = f"{_NAME_A[h % 20]} {_NAME_B[(h >> 8) % 12]}"
        elif stream == "units":
            record["status"] = _UNIT_STATUS[h % 20]
            cents = round(record["market_rent"] * 100) * (98 + (h >> 8) % 9) // 100
            record["market_rent"] = _money(cents)
        elif stream == "residents":
            first, last = record["first_name"].lower(), record["last_name"].lower()
            record["email"] = None if h % 10 == 0 else f"{first}.{last}{(h >> 8) % 1000}@mail.example.org"
            record["phone"] = None if (h >> 20) % 10 == 0 else f"+1-555-{(h >> 24) % 900 + 100}-{(h >> 34) % 10000:04d}"
        elif stream == "leases":
            self._edit_lease(record, h, at)
        else:
            self._edit_work_order(record, h, at)

    @staticmethod
    def _edit_lease(record: Record, h: int, at: int) -> None:
        status, today = record["status"], at // DAY
        if status == "Future":
            record["status"] = "Current"
        elif status == "Current" and h % 2:
            record.update(status="Notice", end_date=day_str(today + 30 + (h >> 4) % 31))
        elif status == "Current":  # renewal: rent goes up 0-5%
            record["rent"] = _money(round(record["rent"] * 100) * (100 + (h >> 4) % 6) // 100)
        elif status == "Notice":
            record.update(status="Past", end_date=day_str(today))
        else:  # Past / Evicted: a late correction of the deposit
            record["deposit"] = _money(max(0, round(record["deposit"] * 100) - ((h >> 4) % 20) * 500))

    @staticmethod
    def _edit_work_order(record: Record, h: int, at: int) -> None:
        status = record["status"]
        if status == "Open":
            record["status"] = "Cancelled" if h % 10 == 0 else "Assigned"
        elif status == "Assigned":
            record["status"] = "InProgress"
        elif status == "InProgress":
            record.update(status="Completed", completed_at=iso(at), cost=_money(2500 + (h >> 8) % 247500))
        elif status == "Completed":  # invoice adjusted after the fact
            record["cost"] = _money(2500 + (h >> 8) % 247500)
        else:
            record["priority"] = _PRIORITY[(h >> 8) % 20]
