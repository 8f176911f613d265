"""Privacy transforms: per stream field, `hash`, `mask` or `drop` before anything is written or logged.

A connection names them under `streams[].privacy` (`{email: hash, phone: mask, date_of_birth: drop}`).
They are decided at planning time (`plan_privacy`, before the warehouse is opened: a rule that
cannot work is a config error at its line) and applied by the transformer right after each column
is cast to its catalog type, so diffs, `_rooftop_meta` and every table see only the protected value:

- `hash`: HMAC-SHA256 (hex) of the value's canonical text, keyed by the connection's `privacy_salt`.
  Canonical text is the typed value as text (`1990-01-05` for a date, `42` for an integer), so the
  same value hashes the same in every stream and every connection that shares the salt, and joins
  on hashed columns keep working. No case folding or trimming: `A@x.com` and `a@x.com` differ.
- `mask`: keeps a readable shape. Text that looks like an email keeps its first character and its
  domain (`j***@example.com`); text that looks like a phone number (only digits, spaces and
  `+-().`, at least 7 digits) keeps its punctuation and last four digits (`+*-***-***-1234`); any
  other value, of any type, becomes `***`. Nulls stay null.
- `drop`: the column is never read into the table, so it does not exist there.

Hashing is per unique value (`pc.unique`, one Python HMAC each, then `take`); masking is vectorised
regular expressions. A value that failed its cast is described in `_rooftop_meta` by its protected
form, never its raw text (`protect_errors`).
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config.models import PrivacyAction, StreamConfig
from pipelines.workspace.connection import LoadedConnection
from protocol.types import CatalogStream, PropertyScope

MASK = "***"
_EMAIL = r"^[^@\s]+@[^@\s]+$"
_PHONE = r"^[0-9+() .\-]+$"
_MIN_PHONE_DIGITS = 7
# On the reversed text: the stretch up to the 4th digit (the last four, kept) and the rest.
_LAST_FOUR = r"^(?P<kept>\D*\d\D*\d\D*\d\D*\d)(?P<rest>.*)$"


@dataclass(frozen=True)
class PrivacyRules:
    """One stream's privacy actions, with the key its hashes use."""

    actions: Mapping[str, PrivacyAction]
    salt: bytes | None = field(default=None, repr=False)

    @property
    def dropped(self) -> frozenset[str]:
        return frozenset(name for name, action in self.actions.items() if action == "drop")

    def table_field(self, f: pa.Field) -> pa.Field:
        """The column a source field lands as: hashed and masked values are text."""
        return pa.field(f.name, pa.string(), nullable=f.nullable) if self.actions.get(f.name) in ("hash", "mask") else f

    def column(self, name: str, values: pa.Array) -> pa.Array:
        """`values` (already cast to the catalog type) protected as the field's rule says."""
        action = self.actions.get(name)
        if action == "hash":
            assert self.salt is not None  # plan_privacy refuses a hash without privacy_salt
            return hash_values(values, self.salt)
        if action == "mask":
            return mask_values(values)
        return values

    def protect_errors(self, name: str, errors: Mapping[int, list[dict[str, Any]]],
                       into: dict[int, list[dict[str, Any]]]) -> None:
        """Move the data errors recorded for field `name` into `into`, with the raw value replaced by
        its protected form and the caster's message (which may quote the value) cut off."""
        for row, row_errors in errors.items():
            for error in row_errors:
                raw = error.get("value")
                shown = None if raw is None else self.column(name, pa.array([_text(raw)], pa.string()))[0].as_py()
                reason = str(error.get("error", "")).split(": ", 1)[0]
                into.setdefault(row, []).append({"field": name, "value": shown, "error": reason,
                                                 "privacy": self.actions[name]})


def canonical_text(values: pa.Array) -> pa.Array:
    """Each value as text, the same text for the same typed value whatever stream it is in."""
    t = values.type
    if pa.types.is_string(t):
        return values
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # Nested values: sorted-key JSON, one value at a time (no cast to text exists).
        return pa.array([None if v is None else _text(v) for v in values.to_pylist()], pa.string())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def hash_values(values: pa.Array, salt: bytes) -> pa.Array:
    """HMAC-SHA256 hex of each value's canonical text; nulls stay null."""
    text = canonical_text(values)
    if text.null_count == len(text):
        return pa.nulls(len(text), pa.string())
    unique = pc.unique(text)
    digests = pa.array([None if v is None else hmac.new(salt, v.encode(), hashlib.sha256).hexdigest()
                        for v in unique.to_pylist()], pa.string())
    return pc.take(digests, pc.index_in(text, value_set=unique, skip_nulls=False))


def mask_values(values: pa.Array) -> pa.Array:
    """Emails and phone numbers keep a readable shape; every other value becomes `***`."""
    n = len(values)
    hidden = pa.repeat(pa.scalar(MASK, pa.string()), n)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pc.if_else(pc.is_valid(values), hidden, pa.scalar(None, pa.string()))
    text = pc.cast(values, pa.string())
    is_email = pc.match_substring_regex(text, _EMAIL).fill_null(False)
    is_phone = pc.and_(pc.match_substring_regex(text, _PHONE).fill_null(False),
                       pc.greater_equal(pc.count_substring_regex(text, r"\d"), _MIN_PHONE_DIGITS).fill_null(False))
    email = pc.replace_substring_regex(text, r"^([^@])[^@]*@", r"\1***@")
    parts = pc.extract_regex(pc.utf8_reverse(text), _LAST_FOUR)
    kept = pc.struct_field(parts, "kept")
    rest = pc.replace_substring_regex(pc.struct_field(parts, "rest"), r"\d", "*")
    phone = pc.utf8_reverse(pc.binary_join_element_wise(kept, rest, ""))
    masked = pc.if_else(is_email, email, pc.if_else(is_phone, phone, hidden))
    return pc.if_else(pc.is_valid(text), masked, pa.scalar(None, pa.string()))


def plan_privacy(conn: LoadedConnection, sc: StreamConfig, stream: CatalogStream, at: tuple[str | int, ...],
                 primary_key: tuple[str, ...], cursor: str | None,
                 scope: PropertyScope | None) -> PrivacyRules | None:
    """The stream's rules, after refusing every one that would break the sync or leak a value."""
    if not sc.privacy:
        return None
    columns = stream.schema.names
    property_field = scope.members.get(sc.name) if scope is not None and conn.config.properties else None
    salt = conn.config.privacy_salt
    for name, action in sc.privacy.items():
        where = (*at, "privacy", name)
        if name not in columns:
            hint = difflib.get_close_matches(name, columns, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise conn.error(f"privacy rule for {name!r}, which is not a field of stream {sc.name!r}{suggestion} "
                             f"(fields: {', '.join(columns)})", where)
        if name == cursor:
            raise conn.error(f"{name!r} is the cursor of stream {sc.name!r} and cannot be {_done(action)}: "
                             "incremental syncs order records by its raw value and save it as state; "
                             "choose another cursor_field or a full_refresh sync mode", where)
        if name in primary_key and action != "hash":
            raise conn.error(f"{name!r} is part of the primary key of stream {sc.name!r} and cannot be "
                             f"{_done(action)} (rows are matched on it); it can be hashed, which keeps it unique "
                             "and joinable", where)
        if name == property_field:
            raise conn.error(f"{name!r} holds the property id of stream {sc.name!r}, which the `properties:` "
                             f"selection filters on; it cannot be {_done(action)}", where)
        if name in sc.enum_maps:
            raise conn.error(f"{name!r} has an enum map and a privacy rule; a field takes one or the other",
                             where)
        if action == "hash" and salt is None:
            raise conn.error(f"hashing {name!r} needs a key: set privacy_salt at the top of the file, from a "
                             'secret variable (privacy_salt: "${PRIVACY_SALT}", at least 16 characters)', where)
    return PrivacyRules(actions=dict(sc.privacy),
                        salt=salt.get_secret_value().encode() if salt is not None else None)


def _done(action: PrivacyAction) -> str:
    return {"hash": "hashed", "mask": "masked", "drop": "dropped"}[action]
