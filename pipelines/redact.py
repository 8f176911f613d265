"""Keep credentials out of everything Rooftop prints or stores.

Connector configs mark credentials as `SecretStr`, so they never render by accident; but a remote
error message, an exception from a driver or a URL can still contain one. Every message that leaves
the engine (CLI output, logs, `_rooftop.syncs.error_message`) passes through a `Redactor` built from
the connection's secret values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<at>@)", re.I)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole; very short values would
        # mask ordinary words and are not credentials anyone would use.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{MASK}{m['at']}", text)

    def merged(self, other: Redactor) -> Redactor:
        return Redactor([*self._secrets, *other._secrets])


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's rendered message before any handler formats it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
