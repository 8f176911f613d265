"""Keep credentials out of everything Rooftop prints or stores.

Connector configs mark credentials as `SecretStr`, so they never render by accident; but a remote
error message, an exception from a driver or a URL can still contain one. Every message that leaves
the engine (CLI output, logs, `_rooftop.syncs.error_message`) passes through a `Redactor` built from
the connection's secret values.

Masking runs on text a vendor controls (an HTML error page, a 100,000-character field value), so it
must stay linear in the length of the text: the URL-password expressions below are anchored (by
lookbehinds) and possessive, so each character is tried a bounded number of times, where the single
expression they replace backtracked over every long run of letters (quadratic: a 1 MB message took
minutes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
# A stretch between spaces/`@`s that holds a `://` and ends at an `@`: the only place a URL password
# can be. The atomic group commits to the first `://`, so a stretch without an `@` costs one scan.
_USERINFO_CANDIDATE = re.compile(r"(?<![^@\s])(?>[^@\s]*?://)[^@\s]*+@")
# `scheme://user:` starting at the beginning of a run of scheme characters (a scheme starts with a
# letter), possessive throughout: each character is tried once.
_SCHEME_AND_USER = re.compile(r"(?<![A-Za-z0-9+.-])[0-9+.-]*+[A-Za-z][A-Za-z0-9+.-]*+://[^:/@\s]++:(?=[^@\s])")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole; very short values would
        # mask ordinary words and are not credentials anyone would use.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return mask_url_passwords(text)

    def merged(self, other: Redactor) -> Redactor:
        return Redactor([*self._secrets, *other._secrets])


def mask_url_passwords(text: str) -> str:
    """`scheme://user:PASSWORD@host` with the password masked, in time linear in `len(text)`.

    The password runs from the user's `:` to the first `@` (no spaces), so it always ends where its
    candidate stretch ends; within a stretch the first well-formed `scheme://user:` wins.
    """
    if "://" not in text or "@" not in text:
        return text
    parts: list[str] = []
    done = 0
    for candidate in _USERINFO_CANDIDATE.finditer(text):
        at = candidate.end() - 1
        found = _SCHEME_AND_USER.search(text, candidate.start(), at)
        if found is not None:
            parts += [text[done:found.end()], MASK]
            done = at
    parts.append(text[done:])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's rendered message before any handler formats it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
