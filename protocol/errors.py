"""Rooftop's exceptions, grouped by what the runtime does with them.

Every error a connector, destination or the engine raises on purpose is one of these. The class
decides the runtime's reaction, so callers never parse messages:

    RooftopError                 base; never raised directly
    ├── ConfigError              fail now, never retry: the user must change something
    │   ├── ConnectionFileError  a connection YAML file is malformed (carries file, line, field)
    │   └── AuthError            the source/destination refused our credentials (401/403)
    ├── TransientError           retry (request level first, then the whole sync/attempt)
    │   ├── SourceUnavailable    network errors, 429 and 5xx after the request retry budget
    │   └── WarehouseLocked      another process holds the destination (e.g. a DuckDB file lock)
    ├── DataError                record and continue: the value is nulled and logged in _rooftop_meta
    ├── UnreadableFile           fail the stream, never retry: a source file that cannot be parsed at
    │                            all (no value to null); the operator fixes or removes the file
    └── SyncFailed               a sync finished with failed streams (raised after all streams ran)

`SyncFailed.retryable` is true only when every failed stream failed with a TransientError, so an
orchestrator can retry a sync whose failures are all worth retrying and stop at once otherwise;
`SyncFailed.needs_config_fix` is true when every failure is a ConfigError. The CLI's exit codes
follow: 1 a sync ran and failed, 2 configuration (including a sync whose every failure is one),
3 transient (including a sync whose every failure is one).
"""

from __future__ import annotations

from collections.abc import Mapping


class RooftopError(Exception):
    """Base class of every error Rooftop raises deliberately."""


class ConfigError(RooftopError):
    """Bad configuration or a refused credential: retrying cannot help."""


class ConnectionFileError(ConfigError):
    """One problem in one connection file, located by file, line and field path."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        where = file or "<connection>"
        if line is not None:
            where = f"{where}:{line}"
        prefix = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(prefix + message)


class AuthError(ConfigError):
    """The remote system refused the credentials named in `field` (never their value)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class TransientError(RooftopError):
    """A failure that may go away by itself: retry."""


class SourceUnavailable(TransientError):
    """The source could not be reached or kept failing after request-level retries."""


class WarehouseLocked(TransientError):
    """Another process holds the destination's write lock and did not release it in time."""


class DataError(RooftopError):
    """A value that does not fit its column: recorded and nulled, the sync goes on."""


class UnreadableFile(RooftopError):
    """A file that cannot be parsed at all: its stream fails, naming it (and the line, if known).

    Neither a TransientError (reading it again gives the same bytes: retrying cannot help) nor a
    ConfigError (the connection file is fine; the data is not) nor a DataError (no value of it can
    be read to be nulled): the operator must fix, replace or remove the file. Other streams, and
    the files of this stream that were already committed, are not affected.
    """

    def __init__(self, file: str, message: str, *, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.detail = message
        super().__init__(f"{file}{f':{line}' if line else ''}: cannot read the file: {message}")


def _is(error: BaseException, kind: type[RooftopError], flag: str) -> bool:
    """`error` is a `kind`, or a SyncFailed (of several connections) whose failures all are."""
    return isinstance(error, kind) or (isinstance(error, SyncFailed) and bool(getattr(error, flag)))


class SyncFailed(RooftopError):
    """Raised at the end of a sync in which one or more streams failed; names each of them."""

    def __init__(self, connection: str, failures: Mapping[str, BaseException]) -> None:
        self.connection = connection
        self.failures = dict(failures)
        self.retryable = all(_is(e, TransientError, "retryable") for e in self.failures.values())
        self.needs_config_fix = all(_is(e, ConfigError, "needs_config_fix") for e in self.failures.values())
        """Every failure is a ConfigError (a refused credential, a response that breaks the stream's
        contract): the CLI exits 2, like any configuration error, and nothing retries it."""
        lines = [f"{name}: {type(err).__name__}: {err}" for name, err in self.failures.items()]
        noun = "stream" if len(lines) == 1 else "streams"
        super().__init__(
            f"sync of {connection!r} failed for {len(lines)} {noun}:\n  " + "\n  ".join(lines)
        )
