"""The highest cursor a rest_api read saves is the same whether its page went Arrow's way or Python's.

Pages read by Arrow's JSON reader hand their cursor column to `CursorPlan.observe_column`, which
takes the maximum of same-shape UTC text in C++; pages read in Python go through `observe`. A state
saved from one path and compared on the next sync by the other must agree, value for value.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from connectors.rest_api.cursor import KEYS, CursorPlan

SHAPES = [
    ["2024-01-02T03:04:05Z", "2024-01-02T03:04:06Z", None, "2023-12-31T23:59:59Z"],
    ["2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.999999Z"],
    ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5Z"],  # two shapes: parsed, not compared as text
    ["2024-01-02T03:04:05+02:00", "2024-01-02T02:04:05Z"],  # an offset: parsed
    ["2024-01-02 03:04:05Z", "2024-01-01 03:04:05Z"],  # no T at index 10
    ["2024-01-02T03:04:05", "2024-01-03T03:04:05"],  # naive
    ["not a time at all Z!", "2024-01-02T03:04:05Z"],
    ["2024-01-02T03:04:0éZ", "2024-01-02T03:04:05Z"],  # same bytes as a valid value, not ASCII
    ["XXXXXXXXXXTXXXXXXXXZ", "2024-01-02T03:04:05Z"],  # same shape: text order, on both paths
    [None, None],
    ["2024-01-02"],
]


def _plan(key: str, highest: str | None = None) -> CursorPlan:
    return CursorPlan(cursor_field="updated_at", track=True, key=KEYS[key], highest=highest)


@pytest.mark.parametrize("values", SHAPES)
@pytest.mark.parametrize("highest", [None, "2024-01-02T03:04:05.5Z", "2030-01-01T00:00:00Z"])
def test_a_column_raises_the_cursor_as_its_records_would(values: list[str | None], highest: str | None) -> None:
    by_records, by_column = _plan("timestamp", highest), _plan("timestamp", highest)
    by_records.observe([{"updated_at": v} for v in values])
    by_column.observe_column(pa.array(values, pa.string()))
    assert by_column.highest == by_records.highest


@pytest.mark.parametrize("key", ["timestamp", "date", "number", "string"])
def test_random_pages_agree(key: str) -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.choice([None, f"2024-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:00:00Z",
                              f"2024-01-{rng.randint(10, 28)}", str(rng.randint(1, 999))]) for _ in range(8)]
        by_records, by_column = _plan(key), _plan(key)
        by_records.observe([{"updated_at": v} for v in values])
        by_column.observe_column(pa.array(values, pa.string()))
        assert by_column.highest == by_records.highest, values
