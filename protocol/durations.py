"""`Duration`: the one way a YAML file says how long something takes or lasts.

Connection files (retries, schedules, windows, retention, webhooks) and connector configs (rest_api
lookbacks, HTTP timeouts and backoffs, destination lock waits) all take lengths of time. They once
had two grammars that disagreed (`1.5 hours` valid in one, `500ms` in the other); this module is the
single grammar, the union of both, so no file that was valid before is rejected now. It lives in
`protocol` because connectors, destinations and pipelines all validate durations.

A duration is a number of seconds (`90`, `1.5`) or one number and one unit (`500ms`, `30s`,
`15 minutes`, `1.5 hours`, `2h`, `1 day`); a unitless string is seconds (`"90"`). One number and one
unit only: `1h 30m` is refused with a hint to write `90 minutes`, which keeps the grammar one
regular expression that editors can check from the JSON Schema. Negative lengths never make sense
here and are refused. Validated values are plain `float` seconds: every caller wants seconds
(`timedelta(seconds=…)`, httpx timeouts, `time.sleep`), and Dagster and JSON take floats as they are.
The reference is docs/connection-yaml.md#durations.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, Field

UNIT_SECONDS: dict[str, float] = {
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
"""Every unit the grammar knows, and its length in seconds."""

# Longest alternatives first: a regex alternation takes the first that matches (`m` before `ms` would fail `5ms`).
_UNITS = "|".join(sorted(UNIT_SECONDS, key=len, reverse=True))
DURATION_PATTERN = rf"^\s*([0-9]+(?:\.[0-9]+)?)\s*({_UNITS})?\s*$"
"""A duration written as text; also published in the JSON Schema, so editors flag a bad one."""
_DURATION = re.compile(DURATION_PATTERN)

EXAMPLES = ("90", "500ms", "30s", "15 minutes", "1.5 hours", "2h", "1 day")
MINUTE, HOUR, DAY = UNIT_SECONDS["m"], UNIT_SECONDS["h"], UNIT_SECONDS["d"]
_HINT = ("write a number of seconds or one number and one unit (ms, s, m, h, d or their words), e.g. "
         + ", ".join(EXAMPLES))


def parse_duration(value: str | float) -> float:
    """Seconds in `value`: a number of seconds, or text such as '500ms', '15 minutes', '1.5 hours'.

    Raises ValueError, naming the value and showing the grammar by example, for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a duration; {_HINT}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; {_compound_hint(value) or _HINT}")
        return float(match.group(1)) * UNIT_SECONDS[match.group(2) or "s"]
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a duration; {_HINT}")
    if value < 0:
        raise ValueError(f"a duration cannot be negative (got {value!r})")
    return float(value)


def format_duration(seconds: float) -> str:
    """`900` → '15 minutes', `3600` → '1 hour', `0.5` → '500 ms': the largest unit that divides evenly."""
    for unit, name in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute"), (1.0, "second")):
        count = seconds / unit
        if seconds >= unit and count == int(count):
            return f"{int(count)} {name}{'' if count == 1 else 's'}"
    if 0 < seconds < 1:
        return f"{seconds * 1000:g} ms"
    return f"{seconds:g} seconds"


def _compound_hint(text: str) -> str | None:
    """For '1h 30m': the grammar takes one number and one unit, so say what to write instead."""
    parts = text.split()
    if len(parts) > 1 and all(_DURATION.match(part) for part in parts):
        return f"one number and one unit only: write {format_duration(sum(parse_duration(p) for p in parts))!r}"
    return None


_TEXT = Annotated[str, Field(pattern=DURATION_PATTERN, examples=list(EXAMPLES[1:]))]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration, json_schema_input_type=Annotated[float, Field(ge=0)] | _TEXT),
    Field(description="A duration: seconds as a number, or a number and a unit (500ms, 30s, 15 minutes, "
                      "1.5 hours, 2h, 1 day). See docs/connection-yaml.md#durations."),
]
"""A length of time in a YAML block; validates to float seconds, never negative."""
