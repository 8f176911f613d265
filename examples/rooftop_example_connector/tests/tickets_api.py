"""A stand-in for the tickets API, served on 127.0.0.1 by the SDK's `ReplayServer`.

It behaves as the real API is documented to: a bearer token, `updated_since` (>=), page/per_page,
tickets in (updated_at, id) order. Rooftop's own test of this package syncs against it too.
"""

from __future__ import annotations

from typing import Any

from connectors.sdk.testing import Reply, Request, unauthorized

TOKEN = "t0ken-for-the-example"


def ticket(n: int, minute: int, status: str = "open") -> dict[str, Any]:
    return {"id": n, "property_id": 100 + n % 3, "status": status, "summary": f"Leak under sink {n}",
            "updated_at": f"2024-05-01T10:{minute:02d}:00Z"}


class TicketsApi:
    """The route: `ReplayServer(TicketsApi(tickets))`; `tickets` may change between syncs."""

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        self.tickets = tickets

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return unauthorized("invalid token")
        since = request.query.get("updated_since", "")
        rows = sorted((t for t in self.tickets if t["updated_at"] >= since), key=lambda t: (t["updated_at"], t["id"]))
        page, per = int(request.query["page"]), int(request.query["per_page"])
        return Reply(body={"tickets": rows[(page - 1) * per:page * per], "has_more": page * per < len(rows)})
