"""`schedule: {cron: ...}` is checked without croniter when the expression is plain numbers, ranges and
steps (pipelines/config/schedule_models.py `plain_cron`); everything else still goes to croniter.

The shortcut may only ever accept what croniter accepts: a cron that croniter refuses would fail
later, when Dagster builds the schedule. These tests hold the two side by side.
"""

from __future__ import annotations

import random

import pytest
from croniter import croniter

from pipelines.config.models import ConnectionConfig
from pipelines.config.schedule_models import CRON_FIELD_RANGES, plain_cron

ITEMS = ["*", "*/1", "*/5", "*/0", "*/60", "*/99", "0", "7", "07", "59", "60", "24", "31", "32", "12", "13", "6", "7",
         "1-5", "5-1", "0-59", "0-60", "1-5/2", "1-5/0", "5/15", "1-", "-1", "", "a", "L", "MON", "JAN", "?", "1--2",
         "1,2", "1,,2", "1-3,7", "*/2,5"]


def _item(rng: random.Random, low: int, high: int) -> str:
    """A cron item near the field's range, on both sides of every bound; now and then an odd one."""
    if rng.random() < 0.05:
        return rng.choice(ITEMS)
    a, b = sorted((rng.randint(low - 1, high + 1), rng.randint(low - 1, high + 1)), reverse=rng.random() < 0.1)
    n = rng.randint(0, high + 2)
    return rng.choice(["*", f"*/{n}", f"{a}", f"{a}-{b}", f"{a}-{b}/{n}", f"{a}/{n}"])


def _random_expr(rng: random.Random) -> str:
    return " ".join(",".join(_item(rng, low, high) for _ in range(rng.choice((1, 1, 1, 2, 3))))
                    for low, high in CRON_FIELD_RANGES)


def test_every_expression_the_shortcut_accepts_croniter_accepts() -> None:
    rng = random.Random(15)
    accepted = 0
    for _ in range(20_000):
        expr = _random_expr(rng)
        if plain_cron(expr):
            accepted += 1
            assert croniter.is_valid(expr), expr
    assert accepted > 500  # the corpus really exercises the shortcut


@pytest.mark.parametrize(("expr", "plain"), [
    ("*/30 * * * *", True), ("0 9 * * 1-5", True), ("15 6,18 1 1-12/3 0", True), ("0 0 31 12 6", True),
    ("*/0 * * * *", False), ("60 * * * *", False), ("0 24 * * *", False), ("0 0 0 * *", False),
    ("0 0 * 13 *", False), ("0 0 * * 7", False), ("5-1 * * * *", False), ("07 * * * *", False),
    ("0 0 * * MON", False), ("0 0 L * *", False), ("* * * *", False), ("* * * * * *", False),
])
def test_the_shortcut_covers_plain_expressions_and_leaves_the_rest_to_croniter(expr: str, plain: bool) -> None:
    assert plain_cron(expr) is plain


@pytest.mark.parametrize(("expr", "valid"), [("0 0 * * 7", True), ("0 0 * * MON", True), ("5-1 * * * *", True),
                                             ("*/0 * * * *", False), ("0 0 * * 8", False), ("61 * * * *", False)])
def test_a_connection_takes_what_croniter_takes(expr: str, valid: bool) -> None:
    doc = {"name": "c", "source": {"connector": "sandbox", "config": {"api_key": "k"}},
           "schedule": {"cron": expr}}
    if valid:
        ConnectionConfig.model_validate(doc)
    else:
        with pytest.raises(ValueError, match="is not a valid 5-field cron expression"):
            ConnectionConfig.model_validate(doc)
