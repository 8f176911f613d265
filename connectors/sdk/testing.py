"""The test kit for connector authors: a replay server on 127.0.0.1 and the Source conformance checks.

    from connectors.sdk.testing import ReplayServer, Reply, Request, check_source, rate_limited

`ReplayServer` serves a route function or a `Recording` of the vendor's replies on a free port,
counts requests per path and injects faults (`unauthorized`, `rate_limited`, `server_error`,
`dropped`); `check_source` runs a source against it as the engine would and fails with every rule
it breaks. Kept out of `connectors.sdk` itself so a connector's runtime code never imports it.

The names: the server `ReplayServer`, what it exchanges (`Request`, `Reply`, `Route`), recorded
replies (`Recording`), faults (`unauthorized`, `rate_limited`, `server_error`, `dropped`), and the
conformance checks (`check_source`, its `SourceReport` and `StreamReport`, and the
`SourceConformanceError` it raises).
"""

from __future__ import annotations

from connectors.sdk.conformance import SourceConformanceError, SourceReport, StreamReport, check_source
from connectors.sdk.replay import (
    Recording,
    ReplayServer,
    Reply,
    Request,
    Route,
    dropped,
    rate_limited,
    server_error,
    unauthorized,
)

__all__ = [
    "ReplayServer",
    "Request",
    "Reply",
    "Route",
    "Recording",
    "unauthorized",
    "rate_limited",
    "server_error",
    "dropped",
    "check_source",
    "SourceReport",
    "StreamReport",
    "SourceConformanceError",
]
