"""Bearer-token auth with three roles, as FastAPI dependencies (`require("write")`).

Tokens come from `ROOFTOP_API_TOKENS` (the environment, else the workspace's `.env`) as
comma-separated `role=token` pairs. A presented token is compared with every configured one in
constant time (`hmac.compare_digest`, no early exit), and no message or log line ever contains a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipelines.api.errors import ApiError
from protocol.errors import ConfigError

Role = Literal["read", "write", "admin"]
ROLES: tuple[Role, ...] = ("read", "write", "admin")
"""Lowest first: a role may do everything the roles before it may."""
TOKENS_VARIABLE = "ROOFTOP_API_TOKENS"

_bearer = HTTPBearer(auto_error=False, description="A token of ROOFTOP_API_TOKENS")


@dataclass(frozen=True)
class ApiToken:
    role: Role
    secret: bytes

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"ApiToken(role={self.role!r}, secret=<masked>)"


def parse_tokens(text: str | None) -> list[ApiToken]:
    """`read=abc,admin=xyz` → tokens; a malformed entry is a ConfigError naming its position, not its value."""
    if not text or not text.strip():
        raise ConfigError(f"{TOKENS_VARIABLE} is not set: the API needs at least one token, e.g. "
                          f"{TOKENS_VARIABLE}=admin=<a long random string> (in the environment or the workspace .env)")
    tokens: list[ApiToken] = []
    for position, entry in enumerate(text.split(","), start=1):
        role, sep, secret = entry.strip().partition("=")
        role = role.strip()
        if not sep or not secret.strip() or role not in ROLES:
            raise ConfigError(f"{TOKENS_VARIABLE}: entry {position} must be role=token with role read, write or "
                              "admin")
        tokens.append(ApiToken(role, secret.strip().encode()))
    return tokens


def role_of(presented: str, tokens: list[ApiToken]) -> Role | None:
    """The highest role whose token equals `presented`; every token is compared, in constant time."""
    candidate = presented.encode()
    found: Role | None = None
    for token in tokens:
        if hmac.compare_digest(candidate, token.secret) and (found is None or ROLES.index(token.role) >
                                                               ROLES.index(found)):
            found = token.role
    return found


def require(role: Role) -> Callable[..., Role]:
    """A dependency: the caller's role, if it is at least `role`; else 401 (no valid token) or 403."""

    def check(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Role:
        if credentials is None:
            raise ApiError(401, "missing credentials: send the header Authorization: Bearer <token>")
        found = role_of(credentials.credentials, request.app.state.tokens)
        if found is None:
            raise ApiError(401, "invalid token")
        if ROLES.index(found) < ROLES.index(role):
            raise ApiError(403, f"this endpoint needs the {role} role; the token has the {found} role")
        return found

    return check
