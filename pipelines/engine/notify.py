"""Webhooks called when a sync ends (`notify:` in a connection file), so failures reach a person.

A webhook is a side channel: it never changes how the sync ends. A receiver that is down, slow or
answering errors is logged (WARNING, event `notify_failed`) and reported as a `NotifyOutcome`,
never raised. The webhook URL is a secret (Slack-style URLs embed their token), so logs and
outcomes show only its scheme and host.

Each matching webhook (`when: failure` hears failed syncs, `success` succeeded ones, `always`
both) gets one `POST` with `Content-Type: application/json`, `User-Agent: rooftop`, the webhook's
own `headers`, its `timeout_seconds` (per connect/read/write phase) and one retry after a
connection error or a 5xx. Redirects are not followed: the body must not travel to another host.

The body (version 1 of this contract; fields are only ever added):

    {
      "event": "sync.failed",              # or "sync.succeeded"
      "connection": "sandbox_leasing",
      "sync_id": "20240501T120000Z-a1b2c3",
      "environment": "production",         # the connection's `environment`
      "status": "failed",                  # or "succeeded"
      "started_at": "2024-05-01T12:00:00.000+00:00",
      "finished_at": "2024-05-01T12:03:10.500+00:00",
      "duration_seconds": 190.5,
      "streams": [                         # one entry per stream the sync ran, in order
        {"stream": "leases", "status": "succeeded", "rows_written": 1200, "error": null},
        {"stream": "units", "status": "failed", "rows_written": 0,
         "error": "SourceUnavailable: connection 'sandbox_leasing': GET /v1/units failed 6 times; ..."}
      ],
      "rows_written": 1200,                # total over the streams
      "error_summary": "sync of 'sandbox_leasing' failed for 1 stream: ...",   # null on success
      "dagster_run_url": "http://dagster:3000/runs/…",                           # null outside Dagster
      "attempt": 1,                        # which attempt of this sync (orchestrator retries count up)
      "final": true                        # no retry of this sync will follow
    }

Every text is redacted with the connection's secrets; `error_summary` and each stream's `error` are
at most 1,000 characters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypedDict

import orjson

from pipelines.config.models import ConnectionConfig, Notify
from pipelines.config.redact import Redactor
from protocol.errors import SyncFailed

log = logging.getLogger("rooftop.notify")

ERROR_CHARS = 1000
USER_AGENT = "rooftop"
RETRY_DELAY_SECONDS = 1.0


class StreamEvent(TypedDict):
    stream: str
    status: str
    rows_written: int
    error: str | None


class SyncEvent(TypedDict):
    """The webhook body; see the module docstring."""

    event: Literal["sync.succeeded", "sync.failed"]
    connection: str
    sync_id: str
    environment: str
    status: Literal["succeeded", "failed"]
    started_at: str
    finished_at: str
    duration_seconds: float
    streams: list[StreamEvent]
    rows_written: int
    error_summary: str | None
    dagster_run_url: str | None
    attempt: int
    final: bool


class StreamOutcome(Protocol):
    """What the event needs of the engine's `StreamResult` (not imported: the engine imports us)."""

    stream: str
    status: str
    rows_written: int
    error: BaseException | None


@dataclass(frozen=True)
class NotifyOutcome:
    target: str
    """scheme://host[:port] of the webhook: the rest of its URL is secret."""
    delivered: bool
    status: int | None
    """HTTP status of the last answer, None if none came."""
    attempts: int
    error: str | None
    """Why it was not delivered (redacted), None if it was."""


def build_event(connection_config: ConnectionConfig, sync_id: str, streams: Sequence[StreamOutcome],
                started_at: datetime, finished_at: datetime, error: BaseException | None, *,
                dagster_run_url: str | None = None, attempt: int = 1, final: bool = True) -> SyncEvent:
    """The webhook body for a sync that ran `streams` and ended with `error` (None = success).

    Texts are not yet redacted nor cut: `notify` does both, in that order, so that a cut can never
    leave half a secret behind.
    """
    failed = error is not None or any(s.status != "succeeded" for s in streams)
    stream_events: list[StreamEvent] = [
        {"stream": s.stream, "status": s.status, "rows_written": s.rows_written,
         "error": None if s.error is None else _describe(s.error)} for s in streams]
    summary = None
    if error is not None:
        summary = str(error) if isinstance(error, SyncFailed) else _describe(error)
    elif failed:
        summary = "; ".join(f"{s['stream']}: {s['error'] or s['status']}" for s in stream_events
                            if s["status"] != "succeeded")
    return {
        "event": "sync.failed" if failed else "sync.succeeded",
        "connection": connection_config.name,
        "sync_id": sync_id,
        "environment": connection_config.environment,
        "status": "failed" if failed else "succeeded",
        "started_at": _timestamp(started_at),
        "finished_at": _timestamp(finished_at),
        "duration_seconds": round((finished_at - started_at).total_seconds(), 3),
        "streams": stream_events,
        "rows_written": sum(s.rows_written for s in streams),
        "error_summary": summary,
        "dagster_run_url": dagster_run_url,
        "attempt": attempt,
        "final": final,
    }


def matches(when: str, status: str) -> bool:
    """Whether a webhook with this `when` hears a sync that ended with `status`."""
    return when == "always" or (when == "failure") == (status != "succeeded")


def payload(event: Mapping[str, Any], redactor: Redactor) -> bytes:
    """The JSON body: every text redacted, then the error texts cut to ERROR_CHARS."""
    body = _redacted(dict(event), redactor)
    if isinstance(body.get("error_summary"), str):
        body["error_summary"] = _clip(body["error_summary"])
    for stream in body.get("streams") or []:
        if isinstance(stream, dict) and isinstance(stream.get("error"), str):
            stream["error"] = _clip(stream["error"])
    return orjson.dumps(body, default=str)


def notify(webhooks: Sequence[Notify], event: SyncEvent | Mapping[str, Any], redactor: Redactor, *,
           retry_delay: float = RETRY_DELAY_SECONDS) -> list[NotifyOutcome]:
    """POST `event` to each webhook whose `when` matches its status, one after the other. Never raises."""
    wanted = [hook for hook in webhooks if matches(hook.when, str(event.get("status")))]
    if not wanted:
        return []
    body = payload(event, redactor)
    return [_deliver(hook, body, event, redactor, retry_delay) for hook in wanted]


def _deliver(hook: Notify, body: bytes, event: Mapping[str, Any], redactor: Redactor,
             retry_delay: float) -> NotifyOutcome:
    url = hook.url.get_secret_value()
    target, hidden = _origin(url)
    redact = redactor.merged(Redactor([url, *hidden, *(v.get_secret_value() for v in hook.headers.values())]))
    headers = {"User-Agent": USER_AGENT, **{k: v.get_secret_value() for k, v in hook.headers.items()},
               "Content-Type": "application/json"}
    status: int | None = None
    error: str | None = None
    attempts = 0
    import httpx  # only a sync with `notify:` sends: the others do not pay its import (~0.1 s CPU)

    try:
        with httpx.Client(timeout=hook.timeout_seconds, follow_redirects=False) as client:
            for attempts in (1, 2):
                retry = False
                try:
                    response = client.post(url, content=body, headers=headers)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing reached the receiver
                    status, error, retry = None, _describe(exc), True
                except httpx.HTTPError as exc:  # it may have been received: sending again could duplicate it
                    status, error = None, _describe(exc)
                else:
                    status = response.status_code
                    if 200 <= status < 300:
                        error = None
                        break
                    error, retry = f"HTTP {status}", status >= 500
                if not retry or attempts == 2:
                    break
                time.sleep(retry_delay)  # a moment for a restarting receiver: the point of the retry
    except Exception as exc:  # noqa: BLE001 - a webhook must never fail the sync it reports on
        error = _describe(exc)
    fields = {"connection": event.get("connection"), "sync_id": event.get("sync_id"), "target": target,
              "status": status, "attempts": attempts}
    if error is None:
        log.info("webhook %s notified (HTTP %s)", target, status, extra={"event": "notify_sent", **fields})
        return NotifyOutcome(target, True, status, attempts, None)
    error = redact(error)
    log.warning("webhook %s failed after %d attempt(s): %s", target, attempts, error,
                extra={"event": "notify_failed", **fields, "error": error})
    return NotifyOutcome(target, False, status, attempts, error)


def _origin(url: str) -> tuple[str, list[str]]:
    """scheme://host[:port] of `url`, and the parts of it that must never be shown."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid url)", []
    port = f":{parsed.port}" if parsed.port else ""
    hidden = [parsed.path, parsed.query.decode("ascii", "replace"), parsed.password or "", parsed.username]
    if parsed.path not in ("", "/"):
        hidden.extend(segment for segment in parsed.path.split("/") if len(segment) >= 8)
    return f"{parsed.scheme}://{parsed.host}{port}", [h for h in hidden if h and h != "/"]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 1] + "…"


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # the engine's clocks are UTC; a naive one can only mean that
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def _redacted(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redactor) for v in value]
    return value
