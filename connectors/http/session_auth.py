"""Session login: post credentials to a login path, send the token it returns on every request.

Rent Manager and many older PMS APIs work this way (`POST /Authentication/AuthorizeUser` with a
user name and password answers a token for header `X-RM12Api-ApiToken`). The session logs in
lazily, once per connection: the first request of any stream logs in while the others wait on the
lock, then all of them share the token. A 401/403 to a request that carried the current token
logs in again once (the server expired the session early); `expires_after` logs in again before
the token is that old. The login goes through the connection's retries and rate limit but is
never signed itself.

Every string of the login body or form is a credential: masked in logs and errors with the token,
and a refused login (401/403) is an AuthError that names those fields, never their values.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Literal, Self

import orjson
from pydantic import Field, SecretStr, model_validator

from connectors.http.authenticator import Authenticator, TokenFetch
from connectors.http.models import StrictModel
from connectors.http.paginators import dig
from protocol.durations import Duration
from protocol.errors import AuthError, ConfigError, SourceUnavailable

if TYPE_CHECKING:  # httpx only where a login is sent: loading a connection file reads the models
    import httpx

LoginValue = SecretStr | int | float | bool
"""A login field: text is a credential (masked everywhere); numbers and booleans (a location id) are not."""


class SessionLoginConfig(StrictModel):
    method: Literal["POST", "PUT", "GET"] = "POST"
    path: str = Field(min_length=1, description="Login path under base_url, or an absolute URL.")
    body: dict[str, LoginValue] | None = Field(None, description="JSON body of the login (every string is "
                                                                 "treated as a secret).")
    form: dict[str, LoginValue] | None = Field(None, description="Form body of the login, instead of `body`.")

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.body is not None and self.form is not None:
            raise ValueError("give the login a `body` or a `form`, not both")
        return self


class SessionTokenConfig(StrictModel):
    source: Literal["body", "header"] = Field("body", alias="from", description=(
        "Where the login's answer carries the token: body (a dot path of its JSON; '$' = the body itself, "
        "e.g. a JSON string) or header (a response header)."))
    path: str = Field("$", description="Dot path in the body, or the header's name.")


class SessionSendConfig(StrictModel):
    header: str | None = Field(None, description="Header that carries the token on every request.")
    prefix: str = Field("", description="Put before the token in the header, e.g. 'Bearer '.")
    query: str | None = Field(None, description="Query parameter that carries the token instead.")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.header is None) == (self.query is None):
            raise ValueError("send the token in a `header` or a `query` parameter (one of them)")
        return self


class SessionAuthConfig(StrictModel):
    type: Literal["session"] = "session"
    login: SessionLoginConfig
    token: SessionTokenConfig = Field(default_factory=SessionTokenConfig)
    send: SessionSendConfig
    expires_after: Duration | None = Field(None, gt=0, description="Log in again once the token is this old "
                                                                   "(default: only when a request is refused).")


class SessionAuth(Authenticator):
    def __init__(self, config: SessionAuthConfig, fetch: TokenFetch, base_url: str, prefix: str) -> None:
        import httpx

        self.config = config
        self._fetch = fetch
        self._login_url = httpx.URL(base_url.rstrip("/") + "/").join(config.login.path.lstrip("/")) \
            if "://" not in config.login.path else httpx.URL(config.login.path)
        fields = config.login.body if config.login.body is not None else config.login.form or {}
        where = f"{prefix}.login.{'body' if config.login.body is not None else 'form'}"
        self.credential_fields = [f"{where}.{k}" for k, v in fields.items() if isinstance(v, SecretStr)]
        """The config fields named when the login is refused (never their values)."""
        secretish = [f for f in self.credential_fields if any(w in f.lower() for w in ("pass", "secret", "key"))]
        self._field = (secretish or self.credential_fields or [f"{prefix}.login"])[0]
        self._secrets = tuple(v.get_secret_value() for v in fields.values() if isinstance(v, SecretStr))
        send = config.send
        self.header_names = frozenset({send.header.lower()}) if send.header else frozenset()
        self.param_names = frozenset({send.query.lower()}) if send.query else frozenset()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._logged_in_at = 0.0
        self.logins = 0

    @property
    def field(self) -> str:
        return self._field

    @field.setter
    def field(self, value: str) -> None:
        # A fixed manifest names its own config key (`password`): refusals then name only that.
        self._field = value
        self.credential_fields = [value]

    def secret_values(self) -> tuple[str, ...]:
        token = self._token  # read without the lock: a log line may show a token one login old
        return (*self._secrets, token) if token else self._secrets

    def apply(self, request: httpx.Request) -> None:
        token = self._current()
        send = self.config.send
        if send.header is not None:
            request.headers[send.header] = send.prefix + token
        else:
            assert send.query is not None
            request.url = request.url.copy_set_param(send.query, token)
        request.extensions["rooftop_token"] = token

    def refresh(self, refused: httpx.Request) -> bool:
        with self._lock:
            # Only the first thread to see the refusal drops the token; the others use its new one.
            if refused.extensions.get("rooftop_token") == self._token:
                self._token = None
        return True

    def _current(self) -> str:
        with self._lock:
            expires = self.config.expires_after
            if self._token is None or (expires is not None and time.monotonic() - self._logged_in_at >= expires):
                self._token = self._login()
                self._logged_in_at = time.monotonic()
            return self._token

    def _login(self) -> str:
        login = self.config.login
        values = login.body if login.body is not None else login.form or {}
        plain = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in values.items()}
        import httpx

        request = httpx.Request(login.method, self._login_url, headers={"Accept": "application/json"},
                                json=plain if login.body is not None else None,
                                data=plain if login.form is not None else None)
        response = self._fetch(request)
        what = f"the login at {self._login_url.path}"
        if response.status_code in (401, 403):
            names = ", ".join(f"source.config.{name}" for name in self.credential_fields)
            raise AuthError(f"{what} refused the credentials in {names or 'the login'} (HTTP "
                            f"{response.status_code}); check those values", field=self.field)
        if response.status_code >= 500:
            raise SourceUnavailable(f"{what} answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise ConfigError(f"{what} answered HTTP {response.status_code}: check auth.login (method, path, "
                              "field names)")
        token = self._token_of(response, what)
        self.logins += 1
        return token

    def _token_of(self, response: httpx.Response, what: str) -> str:
        source = self.config.token
        found: Any
        if source.source == "header":
            found = response.headers.get(source.path)
        else:
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                body = response.text.strip()  # a bare token as plain text
            found = body if source.path in ("$", "") else dig(body, source.path)
        if not isinstance(found, str | int) or isinstance(found, bool) or str(found) == "":
            where = f"header {source.path!r}" if source.source == "header" else f"body path {source.path!r}"
            raise ConfigError(f"{what} answered without a token at {where}; check auth.token")
        return str(found)
