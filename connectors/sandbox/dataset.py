"""The sandbox's data: lazily rendered base records plus a small in-memory overlay of mutations.

A stream's base records are never materialised (the benchmark asks for millions): record i is
rendered on demand by `RecordFactory`, and because base `updated_at` grows strictly with the id,
the order the API promises, (updated_at, id), is the id order, so a page's start is a binary search
over a virtual index. Mutations only remember which ids changed, when, and by which mutation: every
mutation happens after every base timestamp, so the listing is "untouched base ids in id order, then
the overlay sorted by (time, id)", a merge that needs no sort of the stream either.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.sandbox.records import Record, RecordFactory, iso, mix
from connectors.sandbox.schema import PROPERTY_CHILDREN, STREAM_NAMES

DEFAULT_PER_PROPERTY: dict[str, int] = {"properties": 1, "units": 24, "residents": 30, "leases": 36,
                                        "work_orders": 60}
INSERT = -1
"""The edit marker of a version that created the record (edit hashes are never negative)."""
WRITE = -2
"""The edit marker of a version a client wrote (PUT/POST): its fields are the next of `_Overlay.written`."""
_CURSOR_RE = re.compile(r"(\d+):(\d+)")
_M64 = (1 << 64) - 1


class UnknownStreamError(LookupError):
    """The dataset has no stream of that name."""


class InvalidCursorError(ValueError):
    """A page cursor that this dataset did not issue."""


@dataclass(slots=True)
class _Overlay:
    """What mutations changed in one stream; small next to the stream itself."""

    inserted: int = 0
    versions: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    """id -> its edits in order, as (time, edit hash or INSERT)."""
    deleted: dict[int, int] = field(default_factory=dict)
    """id -> deletion time (the record is a tombstone)."""
    moved: dict[int, int] = field(default_factory=dict)
    """id -> current updated_at, for every id in `versions` or `deleted`."""
    order: list[tuple[int, int]] = field(default_factory=list)
    """(updated_at, id) of every id in `moved`, sorted."""
    written: dict[int, list[Record]] = field(default_factory=dict)
    """id -> the fields of each WRITE version, in order."""


def encode_cursor(updated_at: int, record_id: int) -> str:
    """An opaque page token for "after the record with this (updated_at, id)"."""
    return base64.urlsafe_b64encode(f"{updated_at}:{record_id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError(f"not a cursor issued by this API: {token[:40]!r}") from exc
    match = _CURSOR_RE.fullmatch(text)
    if match is None:
        raise InvalidCursorError(f"not a cursor issued by this API: {token[:40]!r}")
    return int(match.group(1)), int(match.group(2))


def _portion(fraction: float, of: int) -> int:
    """round(fraction * of), but at least 1 when the fraction asks for any change at all."""
    n = int(fraction * of + 0.5)
    return 1 if n == 0 and fraction > 0 and of > 0 else n


class SandboxDataset:
    """Deterministic PMS data for a seed; thread-safe (one lock around reads and mutations)."""

    def __init__(self, seed: int = 42, scale: int = 10, counts: Mapping[str, int] | None = None) -> None:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        resolved = {name: per * scale for name, per in DEFAULT_PER_PROPERTY.items()}
        for name, n in (counts or {}).items():
            if name not in resolved:
                raise UnknownStreamError(f"unknown sandbox stream {name!r} in counts "
                                         f"(streams: {', '.join(STREAM_NAMES)})")
            # Every stream is referenced by another or references one, so none may be empty.
            if n < 1:
                raise ValueError(f"counts[{name!r}] must be at least 1, got {n}")
            resolved[name] = n
        self.seed = seed
        self.counts: dict[str, int] = resolved
        self._factory = RecordFactory(seed, resolved)
        self._overlays = {name: _Overlay() for name in STREAM_NAMES}
        self._lock = threading.Lock()
        # The logical clock starts at the latest base timestamp, so every mutation is newer than it.
        self._clock = max(self._factory.base_ts(s, n) for s, n in resolved.items())
        self._mutations = 0

    @property
    def streams(self) -> tuple[str, ...]:
        return STREAM_NAMES

    def _overlay(self, stream: str) -> _Overlay:
        overlay = self._overlays.get(stream)
        if overlay is None:
            raise UnknownStreamError(f"unknown sandbox stream {stream!r} (streams: {', '.join(STREAM_NAMES)})")
        return overlay

    def record_count(self, stream: str) -> int:
        """Live (not deleted) records of `stream`."""
        with self._lock:
            ov = self._overlay(stream)
            return self.counts[stream] + ov.inserted - len(ov.deleted)

    def get(self, stream: str, record_id: int) -> Record | None:
        """The current version of one record (a tombstone if deleted), or None if it never existed."""
        with self._lock:
            ov = self._overlay(stream)
            if not 1 <= record_id <= self.counts[stream] + ov.inserted:
                return None
            return self._render(stream, ov, record_id)

    def _render(self, stream: str, ov: _Overlay, i: int) -> Record:
        record = self._factory.maker(stream)(i)
        written = iter(ov.written.get(i, ()))
        for at, edit in ov.versions.get(i, ()):
            if edit == INSERT:
                self._factory.fresh(stream, record, at)
            elif edit == WRITE:
                record.update(next(written))
            else:
                self._factory.edit(stream, record, edit, at)
            record["updated_at"] = iso(at)
        deleted_at = ov.deleted.get(i)
        if deleted_at is not None:
            record["updated_at"] = record["deleted_at"] = iso(deleted_at)
        return record

    def _key(self, stream: str, ov: _Overlay, i: int) -> tuple[int, int]:
        at = ov.moved.get(i)
        return (self._factory.base_ts(stream, i) if at is None else at), i

    def _page_ids(self, stream: str, ov: _Overlay, low: tuple[int, int], k: int, include_deleted: bool) -> list[int]:
        """The first k ids from `low` on (see `_ids_from`)."""
        if not ov.order:  # never mutated: the ids are one contiguous range
            start = self._base_start(stream, low)
            return list(range(start, min(start + k, self.counts[stream] + 1)))
        return [i for _, i in zip(range(k), self._ids_from(stream, ov, low, include_deleted), strict=False)]

    def _base_start(self, stream: str, low: tuple[int, int]) -> int:
        """The first base id whose (updated_at, id) is >= `low` (n + 1 if none)."""
        origin, step = self._factory.origins[stream], self._factory.steps[stream]
        # Binary search over the virtual index of base keys; nothing is materialised.
        return bisect_left(range(1, self.counts[stream] + 1), low, key=lambda i: (origin + i * step, i)) + 1

    def _property_of(self, stream: str, i: int) -> int:
        """The property record i of a PROPERTY_CHILDREN stream belongs to (never changed by edits)."""
        if stream == "units":
            return (i - 1) % self.counts["properties"] + 1
        record = self._factory.maker(stream)(i)
        if stream == "leases":
            return int((record["unit_id"] - 1) % self.counts["properties"] + 1)
        return int(record["property_id"])

    def _ids_from(self, stream: str, ov: _Overlay, low: tuple[int, int], include_deleted: bool) -> Iterator[int]:
        """Ids in (updated_at, id) order from the first whose key is >= `low`."""
        moved = ov.moved
        for i in range(self._base_start(stream, low), self.counts[stream] + 1):
            if i not in moved:  # a changed record is listed at its new time, in the overlay
                yield i
        order, deleted = ov.order, ov.deleted
        for k in range(bisect_left(order, low), len(order)):
            i = order[k][1]
            if include_deleted or i not in deleted:
                yield i

    def page(self, stream: str, limit: int, after: str | None = None, updated_since: datetime | None = None,
             include_deleted: bool = False, property_id: int | None = None) -> tuple[list[Record], str | None]:
        """Up to `limit` records ordered by (updated_at, id) and the cursor of the next page (or None).

        `updated_since` is inclusive; `after` is a cursor from a previous page; both may be given.
        `property_id` keeps one property's records of a PROPERTY_CHILDREN stream (a scan: the child
        listings serve small per-property pages, not bulk reads).
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if property_id is not None and stream not in PROPERTY_CHILDREN:
            raise ValueError(f"{stream} is not listed per property (only {', '.join(PROPERTY_CHILDREN)})")
        low = (0, 0)
        if updated_since is not None:
            if updated_since.tzinfo is None:
                updated_since = updated_since.replace(tzinfo=UTC)
            # Timestamps are whole seconds: ">= 12:00:00.5" means ">= 12:00:01".
            low = (math.ceil(updated_since.timestamp()), 0)
        if after is not None:
            at, last_id = decode_cursor(after)
            low = max(low, (at, last_id + 1))
        with self._lock:
            ov = self._overlay(stream)
            # One id past the page tells whether another page exists without rendering it.
            if property_id is None:
                chosen = self._page_ids(stream, ov, low, limit + 1, include_deleted)
            else:
                ids = (i for i in self._ids_from(stream, ov, low, include_deleted)
                       if self._property_of(stream, i) == property_id)
                chosen = [i for _, i in zip(range(limit + 1), ids, strict=False)]
            more = len(chosen) > limit
            del chosen[limit:]
            if not ov.moved:  # fast path: nothing mutated, render straight from the factory
                make = self._factory.maker(stream)
                records = [make(i) for i in chosen]
            else:
                records = [self._render(stream, ov, i) for i in chosen]
            cursor = encode_cursor(*self._key(stream, ov, chosen[-1])) if more else None
        return records, cursor

    def current_records(self, stream: str) -> Iterator[Record]:
        """Every live record, in listing order, a page at a time (memory stays flat)."""
        after: str | None = None
        while True:
            records, after = self.page(stream, 5000, after=after)
            yield from records
            if after is None:
                return

    def mutate(self, stream: str, update: float = 0.1, insert: float = 0.05, delete: float = 0.02,
               seed: int | None = None) -> dict[str, list[int]]:
        """Update, insert and delete fractions of the live records; return the ids touched.

        All changes get one new `updated_at` from a logical clock that is strictly later than every
        timestamp served so far. The ids picked and the edits are deterministic for (dataset seed,
        stream, `seed`); without `seed`, the mutation's sequence number is used.
        """
        for name, value in (("update", update), ("delete", delete)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
        if not 0 <= insert <= 10:
            raise ValueError(f"insert must be between 0 and 10 (a fraction of the live records), got {insert}")
        if update + delete > 1:
            raise ValueError(f"update + delete must not exceed 1, got {update + delete}")
        with self._lock:
            ov = self._overlay(stream)
            self._mutations += 1
            key = mix(self._factory.keys[stream] ^ mix((self._mutations if seed is None else seed) & _M64))
            rng = random.Random(key)
            at = self._clock = max(int(time.time()), self._clock + 1)
            total = self.counts[stream] + ov.inserted
            live = total - len(ov.deleted)
            n_update = _portion(update, live)
            n_delete = min(_portion(delete, live), live - n_update)
            picked = self._pick_live(ov, total, n_update + n_delete, rng)
            updated, deleted = sorted(picked[:n_update]), sorted(picked[n_update:])
            inserted = list(range(total + 1, total + _portion(insert, live) + 1))
            ov.inserted += len(inserted)
            for i in updated:
                ov.versions[i] = (*ov.versions.get(i, ()), (at, mix(key + i)))
            for i in inserted:
                ov.versions[i] = ((at, INSERT),)
            for i in deleted:
                ov.deleted[i] = at
            self._touch(ov, sorted((*updated, *inserted, *deleted)), at)
        return {"updated": updated, "inserted": inserted, "deleted": deleted}

    @staticmethod
    def _touch(ov: _Overlay, touched: list[int], at: int) -> None:
        """Move `touched` (sorted ids) to `at`: re-changed ids leave their old place, all sort last, by id."""
        again = {i for i in touched if i in ov.moved}
        if again:
            ov.order = [entry for entry in ov.order if entry[1] not in again]
        for i in touched:
            ov.moved[i] = at
        ov.order.extend((at, i) for i in touched)

    def write(self, stream: str, record_id: int | None, fields: Mapping[str, object]) -> Record | None:
        """A client's write: update record `record_id` with `fields`, or create one (record_id None).

        Returns the record as now stored (None: no live record with that id). The new version gets
        an `updated_at` later than every one served, so the next incremental read sees it.
        """
        with self._lock:
            ov = self._overlay(stream)
            total = self.counts[stream] + ov.inserted
            if record_id is None:
                ov.inserted += 1
                record_id = total + 1
                at = self._clock = max(int(time.time()), self._clock + 1)
                ov.versions[record_id] = ((at, INSERT), (at, WRITE))
            else:
                if not 1 <= record_id <= total or record_id in ov.deleted:
                    return None
                at = self._clock = max(int(time.time()), self._clock + 1)
                ov.versions[record_id] = (*ov.versions.get(record_id, ()), (at, WRITE))
            ov.written.setdefault(record_id, []).append(dict(fields))
            self._touch(ov, [record_id], at)
            return self._render(stream, ov, record_id)

    @staticmethod
    def _pick_live(ov: _Overlay, total: int, k: int, rng: random.Random) -> list[int]:
        """k distinct ids among 1..total that are not deleted, deterministic for `rng`'s seed."""
        live = total - len(ov.deleted)
        if k * 2 > live:  # dense pick: sampling the explicit pool beats rejection
            return rng.sample([i for i in range(1, total + 1) if i not in ov.deleted], k)
        chosen: dict[int, None] = {}  # a dict keeps the draw order, so the result is deterministic
        while len(chosen) < k:
            i = rng.randrange(1, total + 1)
            if i not in ov.deleted:
                chosen[i] = None
        return list(chosen)
