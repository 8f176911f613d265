"""A cursor or window bound as the API wants to read it, and a record's timestamp as Rooftop stores it.

Vendor APIs rarely take ISO 8601 in UTC: Entrata wants `01/31/2024` in Mountain Time, Rent Manager
a local date-time inside a filter expression. Rooftop keeps every saved cursor as the API sent it,
or (for timestamps it made itself: window ends, watermarks, times it localized) as ISO 8601 UTC
(`2024-01-31T07:00:00Z`), so the state means the same whatever the vendor's clock. This module is
the one place that converts between the two, for query parameters and for body templates alike:

- `format_value(value, fmt, tz)`: a cursor value (ISO text, a datetime or a date) as text for a
  request: in the source's `timezone` if set, rendered with `fmt` (strftime) if set; a value that is
  not a timestamp (a number, an opaque string) is sent as it is.
- `parse_timestamp(value, tz, fmt)`: an aware datetime from ISO text or text in `fmt`; a naive
  one is read in `tz` (else UTC).
- `to_utc_text(value, tz, fmt)`: a record's timestamp as ISO UTC text (how it is stored), or the
  value unchanged when it is not a timestamp.

The values are placed in parameters and bodies by `connectors.rest_api.templates` (`{cursor}`,
`{window.start}`, `{window.end}`), already formatted here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CURSOR_PLACEHOLDERS = ("cursor", "window.start", "window.end")
"""Names a request value may hold in braces besides a parent's `{alias.field}`."""
_NAIVE_TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?")


def zone(name: str | None) -> tzinfo:
    """The IANA time zone `name` (UTC when None); ValueError naming it when unknown."""
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as America/Denver)") from exc


def parse_timestamp(value: Any, tz: tzinfo = UTC, fmt: str | None = None) -> datetime | None:
    """`value` as an aware datetime (naive values are in `tz`); None when it is not a timestamp."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment_or_none = _parse_text(value.strip(), fmt)
        if moment_or_none is None:
            return None
        moment = moment_or_none
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _parse_text(text: str, fmt: str | None) -> datetime | None:
    if fmt is not None:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass  # the API may answer in ISO even when it wants its own format in requests
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second (to the microsecond if it has any)."""
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def format_value(value: Any, fmt: str | None = None, tz: tzinfo = UTC) -> Any:
    """A cursor value as the API reads it (see the module doc); non-timestamps as they are."""
    if fmt is None and tz is UTC:
        return value  # sent back exactly as the API sent it
    if isinstance(value, int | float):  # bool is an int too
        return value
    moment = parse_timestamp(value, tz)
    if moment is None:
        return value
    if fmt is None and isinstance(value, str) and len(value.strip()) == 10:
        return value  # a plain date has no time zone to convert
    return format_moment(moment, fmt, tz)


def format_moment(moment: datetime, fmt: str | None = None, tz: tzinfo = UTC) -> str:
    """An aware time as request text: `fmt` (strftime) in `tz`; else ISO 8601 (local in `tz`, or UTC `Z`)."""
    local = moment.astimezone(tz)
    if fmt is not None:
        return local.strftime(fmt)
    return utc_text(local) if tz is UTC else local.replace(tzinfo=None).isoformat(timespec="seconds")


def to_utc_text(value: Any, tz: tzinfo, fmt: str | None = None) -> Any:
    """A record's naive timestamp text (ISO, or in `fmt`) read in `tz`, as ISO UTC text; other values as is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if fmt is None and not _NAIVE_TS.fullmatch(text):
        return value
    moment = _parse_text(text, fmt)
    if moment is None or moment.tzinfo is not None:
        return value
    return utc_text(moment.replace(tzinfo=tz))


def localize_records(records: list[dict[str, Any]], tz: tzinfo, fields: tuple[str, ...] | None = None,
                     fmt: str | None = None) -> None:
    """In place: naive timestamps of top-level string fields (`fields`, or every field) become ISO UTC text.

    `fmt` also reads text in the API's own format (for the cursor field, whose format is known).
    """
    for record in records:
        for name in fields if fields is not None else list(record):
            value = record.get(name)
            if isinstance(value, str):
                record[name] = to_utc_text(value, tz, fmt)

