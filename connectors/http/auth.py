"""Authentication of REST sources: the `auth:` YAML models and the objects that sign each request.

Every scheme knows the config field holding its secret (`field`), so a refused credential is
reported by name ("source.config.auth.token") and never by value. `headers` sends several secret
headers at once; `session` (connectors.http.session_auth) logs in with credentials. OAuth2 client credentials fetch
a token on first use, renew it shortly before it expires, and once more if the API answers 401
(a token revoked early); the token request goes through the same retries and rate limit as the
rest of the connection's traffic.
"""

from __future__ import annotations

import base64
import threading
import time
import unicodedata
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field, SecretStr, field_validator

from connectors.http.authenticator import Authenticator as Authenticator
from connectors.http.authenticator import TokenFetch as TokenFetch
from connectors.http.models import StrictModel, tagged_union
from connectors.http.session_auth import SessionAuth, SessionAuthConfig
from protocol.errors import AuthError, SourceUnavailable

# httpx only where a request is sent: loading a connection file reads these models, nothing more.
if TYPE_CHECKING:
    import httpx


class BearerAuthConfig(StrictModel):
    type: Literal["bearer"] = "bearer"
    token: SecretStr = Field(min_length=1, description="Sent as `Authorization: Bearer <token>`.")


class BasicAuthConfig(StrictModel):
    type: Literal["basic"] = "basic"
    username: str = Field(min_length=1)
    password: SecretStr


class ApiKeyAuthConfig(StrictModel):
    type: Literal["api_key"] = "api_key"
    key: SecretStr = Field(min_length=1, description="The API key.")
    name: str = Field("X-API-Key", min_length=1, description="Header or query parameter carrying the key.")
    location: Literal["header", "query"] = "header"
    prefix: str = Field("", description="Put before the key, e.g. 'Token ' for `Authorization: Token <key>`.")

    @field_validator("name", "prefix")
    @classmethod
    def _printable(cls, value: str) -> str:
        # Secret values are checked where every connector's config is loaded; these two are not secret.
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError("may not contain control characters (NUL, line breaks, tabs…)")
        return value


class HeadersAuthConfig(StrictModel):
    type: Literal["headers"] = "headers"
    headers: dict[str, SecretStr] = Field(min_length=1, description=(
        "Header name → secret value, all sent on every request and all masked (e.g. a client id and secret)."))

    @field_validator("headers")
    @classmethod
    def _names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not name or any(unicodedata.category(ch) == "Cc" for ch in name):
                raise ValueError(f"header name {name!r} may not be empty or contain control characters")
        return value


class OAuth2ClientCredentialsConfig(StrictModel):
    type: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: str = Field(description="The token endpoint (absolute URL).")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=1)
    scope: str | None = None
    extra_params: dict[str, str] = Field(default_factory=dict, description="More form fields, e.g. audience.")
    client_auth: Literal["body", "basic"] = Field("body", description="Send the client credentials in the form "
                                                                      "body or as HTTP Basic.")
    refresh_margin_seconds: float = Field(60, ge=0, description="Renew the token this long before it expires.")

    @field_validator("token_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value


AuthConfig = tagged_union("auth", BearerAuthConfig, BasicAuthConfig, ApiKeyAuthConfig, HeadersAuthConfig,
                          OAuth2ClientCredentialsConfig, SessionAuthConfig)


class HeaderAuth(Authenticator):
    def __init__(self, header: str, value: str, field: str, *, secret: str | None = None) -> None:
        """`secret`: the bare credential inside `value` (e.g. the token of `Bearer <token>`), if different."""
        self._header, self._value, self.field = header, value, field
        self._secrets = tuple(v for v in (value, secret) if v)
        self.header_names = frozenset({header.lower()})

    def secret_values(self) -> tuple[str, ...]:
        return self._secrets

    def apply(self, request: httpx.Request) -> None:
        request.headers[self._header] = self._value


class HeadersAuth(Authenticator):
    """Several secret headers at once (Buildium's client id and secret): every one masked, by name and value."""

    def __init__(self, headers: dict[str, str], field: str) -> None:
        self._headers, self.field = headers, field
        self.header_names = frozenset(name.lower() for name in headers)

    def secret_values(self) -> tuple[str, ...]:
        return tuple(self._headers.values())

    def apply(self, request: httpx.Request) -> None:
        request.headers.update(self._headers)


class QueryAuth(Authenticator):
    def __init__(self, param: str, value: str, field: str, *, secret: str | None = None) -> None:
        self._param, self._value, self.field = param, value, field
        self._secrets = tuple(v for v in (value, secret) if v)
        self.param_names = frozenset({param.lower()})

    def secret_values(self) -> tuple[str, ...]:
        return self._secrets

    def apply(self, request: httpx.Request) -> None:
        request.url = request.url.copy_set_param(self._param, self._value)


class OAuth2ClientCredentials(Authenticator):
    def __init__(self, config: OAuth2ClientCredentialsConfig, fetch: TokenFetch, field: str) -> None:
        self.config = config
        self.field = field
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self.tokens_fetched = 0
        self.header_names = frozenset({"authorization"})

    def secret_values(self) -> tuple[str, ...]:
        token = self._token  # read without the lock: a log line may show a token one renewal old
        return tuple(v for v in (self.config.client_secret.get_secret_value(), token) if v)

    def _current(self) -> str:
        with self._lock:
            fresh = self._token is not None and (
                self._expires_at is None
                or time.monotonic() < self._expires_at - self.config.refresh_margin_seconds)
            if not fresh:
                self._token, self._expires_at = self._request_token()
            assert self._token is not None
            return self._token

    def apply(self, request: httpx.Request) -> None:
        token = self._current()
        request.headers["Authorization"] = f"Bearer {token}"
        request.extensions["rooftop_token"] = token

    def refresh(self, refused: httpx.Request) -> bool:
        with self._lock:
            # Only the first thread to see the rejection drops the token; the others reuse its new one.
            if refused.extensions.get("rooftop_token") == self._token:
                self._token = None
        return True

    def _request_token(self) -> tuple[str, float | None]:
        cfg = self.config
        secret = cfg.client_secret.get_secret_value()
        form: dict[str, Any] = {"grant_type": "client_credentials", **cfg.extra_params}
        if cfg.scope:
            form["scope"] = cfg.scope
        headers = {"Accept": "application/json"}
        if cfg.client_auth == "basic":
            pair = f"{cfg.client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form.update(client_id=cfg.client_id, client_secret=secret)
        import httpx

        started = time.monotonic()
        response = self._fetch(httpx.Request("POST", cfg.token_url, data=form, headers=headers))
        if response.status_code in (400, 401, 403):
            code = _oauth_error(response)
            raise AuthError(f"the token endpoint {httpx.URL(cfg.token_url).copy_with(query=None)} refused "
                            f"{self.field.rsplit('.', 1)[0]}.client_id/client_secret (HTTP {response.status_code}"
                            f"{': ' + code if code else ''})", field=self.field)
        if response.status_code >= 300:
            raise SourceUnavailable(f"the token endpoint answered HTTP {response.status_code}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SourceUnavailable(f"the token endpoint returned invalid JSON: {exc}") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceUnavailable("the token endpoint's answer has no access_token")
        self.tokens_fetched += 1
        expires_in = body.get("expires_in")
        expires_at = started + float(expires_in) if isinstance(expires_in, int | float) else None
        return token, expires_at


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 `error` code of a refusal (e.g. invalid_client): short, and never a secret."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return code[:60] if isinstance(code, str) else ""


def make_authenticator(config: Any, fetch: TokenFetch, prefix: str = "auth", *,
                       base_url: str = "") -> Authenticator | None:
    """The runtime object for an `auth:` config; `prefix` is its path in the source config.

    `base_url`: what a session's relative login path is under.
    """
    if config is None:
        return None
    if isinstance(config, BearerAuthConfig):
        token = config.token.get_secret_value()
        return HeaderAuth("Authorization", f"Bearer {token}", f"{prefix}.token", secret=token)
    if isinstance(config, BasicAuthConfig):
        password = config.password.get_secret_value()
        pair = f"{config.username}:{password}".encode()
        return HeaderAuth("Authorization", "Basic " + base64.b64encode(pair).decode(), f"{prefix}.password",
                          secret=password)
    if isinstance(config, ApiKeyAuthConfig):
        key = config.key.get_secret_value()
        value = config.prefix + key
        if config.location == "query":
            return QueryAuth(config.name, value, f"{prefix}.key", secret=key)
        return HeaderAuth(config.name, value, f"{prefix}.key", secret=key)
    if isinstance(config, HeadersAuthConfig):
        return HeadersAuth({k: v.get_secret_value() for k, v in config.headers.items()}, f"{prefix}.headers")
    if isinstance(config, OAuth2ClientCredentialsConfig):
        return OAuth2ClientCredentials(config, fetch, f"{prefix}.client_secret")
    if isinstance(config, SessionAuthConfig):
        return SessionAuth(config, fetch, base_url, prefix)
    raise TypeError(f"unknown auth config {type(config).__name__}")
