"""The sandbox catalog: the Arrow schema, description and enum vocabularies of its five streams.

One module owns these so that the data generator, the HTTP server and the connector's `discover`
can never disagree about a field's name, type or allowed values. The schemas hold the *target*
types (the engine casts the JSON-native raw batches to them); the wire format is plain JSON.
"""

from __future__ import annotations

import pyarrow as pa

from connectors.sandbox.api import STREAM_NAMES as STREAM_NAMES  # re-exported: the catalog names its streams

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Money is exact on the wire (at most 2 decimals), so the warehouse keeps it exact too.
MONEY = pa.decimal128(12, 2)

PROPERTY_TYPES = ("Multifamily", "SingleFamily", "StudentHousing", "SeniorLiving", "Affordable", "MixedUse")
UNIT_STATUSES = ("Vacant", "Occupied", "Notice", "Down")
LEASE_STATUSES = ("Current", "Notice", "Past", "Future", "Evicted")
WORK_ORDER_CATEGORIES = ("Plumbing", "Electrical", "HVAC", "Appliance", "PestControl", "General",
                         "Landscaping", "Cleaning")
WORK_ORDER_PRIORITIES = ("Low", "Medium", "High", "Emergency")
WORK_ORDER_STATUSES = ("Open", "Assigned", "InProgress", "Completed", "Cancelled")

ADDRESS = pa.struct([("street", pa.string()), ("city", pa.string()), ("state", pa.string()),
                     ("zip", pa.string())])

SCHEMAS: dict[str, pa.Schema] = {
    "properties": pa.schema([
        ("id", pa.int64()), ("name", pa.string()), ("code", pa.string()), ("address", ADDRESS),
        ("property_type", pa.string()), ("unit_count", pa.int64()), ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP), ("deleted_at", TIMESTAMP),
    ]),
    "units": pa.schema([
        ("id", pa.int64()), ("property_id", pa.int64()), ("unit_number", pa.string()),
        ("bedrooms", pa.int64()), ("bathrooms", pa.float64()), ("square_feet", pa.int64()),
        ("market_rent", MONEY), ("status", pa.string()), ("amenities", pa.list_(pa.string())),
        ("updated_at", TIMESTAMP), ("deleted_at", TIMESTAMP),
    ]),
    "residents": pa.schema([
        ("id", pa.int64()), ("first_name", pa.string()), ("last_name", pa.string()),
        ("email", pa.string()), ("phone", pa.string()), ("date_of_birth", pa.date32()),
        ("updated_at", TIMESTAMP), ("deleted_at", TIMESTAMP),
    ]),
    "leases": pa.schema([
        ("id", pa.int64()), ("unit_id", pa.int64()), ("resident_id", pa.int64()), ("status", pa.string()),
        ("rent", MONEY), ("deposit", MONEY), ("start_date", pa.date32()), ("end_date", pa.date32()),
        ("move_in_date", pa.date32()), ("updated_at", TIMESTAMP), ("deleted_at", TIMESTAMP),
    ]),
    "work_orders": pa.schema([
        ("id", pa.int64()), ("property_id", pa.int64()), ("unit_id", pa.int64()), ("category", pa.string()),
        ("priority", pa.string()), ("status", pa.string()), ("description", pa.string()),
        ("cost", MONEY), ("created_at", TIMESTAMP), ("completed_at", TIMESTAMP),
        ("updated_at", TIMESTAMP), ("deleted_at", TIMESTAMP),
    ]),
}

DESCRIPTIONS: dict[str, str] = {
    "properties": "Managed properties (buildings or communities) with their address and type.",
    "units": "Rentable units of each property: size, asking rent, occupancy status and amenities.",
    "residents": "People who hold or held a lease; contact fields may be missing.",
    "leases": "Lease agreements between a resident and a unit; a null end_date means month-to-month.",
    "work_orders": "Maintenance requests per unit, from creation to completion or cancellation.",
}

if tuple(SCHEMAS) != STREAM_NAMES:  # one list of streams, kept where no pyarrow is needed (api.py)
    raise RuntimeError(f"connectors.sandbox.api.STREAM_NAMES {STREAM_NAMES} differs from SCHEMAS {tuple(SCHEMAS)}")
PROPERTY_CHILDREN = ("units", "leases", "work_orders")
"""Streams listed per property too (`/v1/properties/{id}/units`): each record belongs to one property."""

PRIMARY_KEY = ("id",)
CURSOR_FIELD = "updated_at"
DELETED_FIELD = "deleted_at"
