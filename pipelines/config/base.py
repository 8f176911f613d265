"""The strict base every block of a connection file is built on, and the timezone check they share.

Its own module so that models.py and schedule_models.py (the `schedule:` forms) both build on it
without importing each other.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone (e.g. 'America/Chicago', 'UTC')") from None
    return value


Timezone = Annotated[str, Field(description="IANA timezone name, e.g. America/Chicago")]
