"""What the sandbox API accepts: listing query strings and admin bodies, and its JSON error bodies.

Split from the server so the HTTP plumbing (sockets, faults, logging) and the API's contract (which
parameters exist, their ranges, the error each mistake gets) can be read separately.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
_LIST_PARAMS = frozenset({"limit", "cursor", "updated_since", "include_deleted"})
_BOOLS = {"true": True, "1": True, "false": False, "0": False}

STREAM_NAMES: tuple[str, ...] = ("properties", "units", "residents", "leases", "work_orders")
"""The sandbox's streams, in the order the dataset derives them; here, without pyarrow, so that
validating a config's `counts` (rooftop validate, status) needs no schema. schema.py checks that
its SCHEMAS list exactly these."""


class MutateRequest(BaseModel):
    """The body of POST /v1/_admin/mutate."""

    model_config = ConfigDict(extra="forbid")
    stream: str
    update: float = Field(0.1, ge=0, le=1)
    insert: float = Field(0.05, ge=0, le=10)
    delete: float = Field(0.02, ge=0, le=1)
    seed: int | None = None


class ApiError(Exception):
    """An HTTP error response; the handler turns it into the JSON error body."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.param is not None:
            body["param"] = self.param
        return body




def bad_param(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{param}: {message}", param)


def parse_list_query(query: str) -> dict[str, Any]:
    """Validate a listing's query string into `SandboxDataset.page` keyword arguments."""
    params = parse_qs(query, keep_blank_values=True)
    for name, values in params.items():
        if name not in _LIST_PARAMS:
            raise bad_param(name, f"unknown parameter (allowed: {', '.join(sorted(_LIST_PARAMS))})")
        if len(values) > 1:
            raise bad_param(name, "given more than once")
    raw = {name: values[0] for name, values in params.items()}
    out: dict[str, Any] = {"limit": DEFAULT_LIMIT, "after": raw.get("cursor") or None,
                           "updated_since": None, "include_deleted": False}
    if "limit" in raw:
        if not raw["limit"].isdigit() or not 1 <= int(raw["limit"]) <= MAX_LIMIT:
            raise bad_param("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {raw['limit'][:40]!r}")
        out["limit"] = int(raw["limit"])
    if raw.get("updated_since"):
        try:
            since = datetime.fromisoformat(raw["updated_since"])
        except ValueError:
            raise bad_param("updated_since", "must be an ISO-8601 timestamp such as 2024-03-01T12:00:00Z, "
                                              f"got {raw['updated_since'][:40]!r}") from None
        out["updated_since"] = since if since.tzinfo else since.replace(tzinfo=UTC)
    if "include_deleted" in raw:
        flag = _BOOLS.get(raw["include_deleted"].lower())
        if flag is None:
            raise bad_param("include_deleted", f"must be true or false, got {raw['include_deleted'][:40]!r}")
        out["include_deleted"] = flag
    return out


Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], body: bytes) -> Body:
    """A JSON request body as `model`, or a 400 naming the first bad field."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "invalid_parameter", f"{param}: {first['msg']}", param) from None
