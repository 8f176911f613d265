"""Pagination styles of REST APIs: the `paginator:` YAML models and the objects that walk the pages.

A paginator is created per request series (one stream, or one parent record of a child stream) and
turns each response into the next request, or None when the series is over. It also refuses to go
round in circles: a next cursor or URL seen before in the series, or (for offset and page-number
paging, whose requests always differ) a page identical to the previous one, fails the stream with a
ConfigError instead of syncing forever. Such a loop is deterministic (usually a misnamed parameter
the server ignores), so retrying could not help.

Every series is also bounded whatever the API sends (`advance`): `max_empty_pages` empty pages
in a row that each still point to a next page (new cursors, so no loop is seen) fail it the same
way, and `max_pages` is a deliberate cap: reading stops there without an error, with
a `max_pages_reached` warning in the log, because a user who sets it wants exactly that.

Offset and page-number paging also stop when the API says how much there is (a total record count
or page count, from the body or a response header such as `X-Total-Count`): the last page is then
the one that reaches the total, and no extra empty page is requested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

from pydantic import Field

from connectors.http.models import StrictModel, tagged_union
from protocol.errors import ConfigError

if TYPE_CHECKING:  # httpx only when paging: loading a connection file reads the models
    import httpx

log = logging.getLogger("rooftop.rest_api")

MAX_EMPTY_PAGES = 10
"""Default number of empty pages in a row, each pointing to a next page, before a series fails."""

class NoPaginatorConfig(StrictModel):
    type: Literal["none"] = "none"


class _PositionedConfig(StrictModel):
    location: Literal["query", "body"] = Field("query", description=(
        "Where the paginator's parameters go: query, or body (each `*_param` is then a dot path in the JSON "
        "body, or a form field), for APIs that page in a POST body."))


class CursorPaginatorConfig(_PositionedConfig):
    type: Literal["cursor"] = "cursor"
    cursor_path: str = Field("next_cursor", description="Dot path of the next cursor in the body; empty/null = done.")
    cursor_param: str = Field("cursor", description="Query parameter that takes the cursor.")
    page_size: int | None = Field(None, ge=1, description="Records per page, sent as `page_size_param`.")
    page_size_param: str = "limit"


class OffsetPaginatorConfig(_PositionedConfig):
    type: Literal["offset"] = "offset"
    limit: int = Field(ge=1, description="Records per page.")
    limit_param: str = "limit"
    offset_param: str = "offset"
    start: int = Field(0, ge=0, description="Offset of the first page.")
    total_path: str | None = Field(None, description="Dot path of the total record count, if the API sends it.")
    total_header: str | None = Field(None, description="Response header holding the total record count "
                                                       "(e.g. X-Total-Count).")


class PageNumberPaginatorConfig(_PositionedConfig):
    type: Literal["page_number"] = "page_number"
    page_param: str = "page"
    start: int = Field(1, ge=0, description="Number of the first page.")
    page_size: int | None = Field(None, ge=1)
    page_size_param: str = "per_page"
    total_pages_path: str | None = Field(None, description="Dot path of the page count, if the API sends it.")
    total_pages_header: str | None = Field(None, description="Response header holding the page count.")
    total_path: str | None = Field(None, description="Dot path of the total record count, if the API sends it.")
    total_header: str | None = Field(None, description="Response header holding the total record count "
                                                       "(e.g. X-Total-Results).")


class LinkHeaderPaginatorConfig(StrictModel):
    type: Literal["link_header"] = "link_header"
    rel: str = Field("next", description="Link relation of the next page (RFC 8288).")
    page_size: int | None = Field(None, ge=1, description="Sent on the first request; next links carry it on.")
    page_size_param: str = "per_page"


class NextUrlPaginatorConfig(StrictModel):
    type: Literal["next_url"] = "next_url"
    next_url_path: str = Field("next", description="Dot path of the next page's URL in the body; empty/null = done.")
    page_size: int | None = Field(None, ge=1)
    page_size_param: str = "limit"


PaginatorConfig = tagged_union("paginator", NoPaginatorConfig, CursorPaginatorConfig, OffsetPaginatorConfig,
                               PageNumberPaginatorConfig, LinkHeaderPaginatorConfig, NextUrlPaginatorConfig)


def announced(response: httpx.Response, body: Any, path: str | None, header: str | None) -> float | None:
    """A count the API announces at a body path or in a header (None: not sent, or not a number)."""
    value: Any = dig(body, path) if path else None
    if value is None and header:
        value = response.headers.get(header)
    if isinstance(value, bool):
        return None
    try:
        return float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None


def dig(body: Any, path: str) -> Any:
    """The value at a dot path (`meta.next`, `items.0.id`), or None when any step is missing."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


@dataclass(frozen=True)
class PageRequest:
    """One request of a series: a path (relative to the base URL) or an absolute URL, and its query."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


class Paginator:
    """Walks one request series; `describe` names the stream for error messages."""

    def __init__(self, config: Any, describe: str, *, max_pages: int | None = None,
                 max_empty_pages: int = MAX_EMPTY_PAGES) -> None:
        self.config = config
        self.describe = describe
        self.max_pages = max_pages
        self.max_empty_pages = max_empty_pages
        self.pages = 0
        self._empty_run = 0
        self._seen: set[Any] = set()
        self._previous_page: bytes | None = None

    def advance(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        """The request after a page of `count` records, or None: `next` within the series' bounds."""
        following = self.next(request, response, body, count)
        if following is None:
            return None
        self._empty_run = 0 if count else self._empty_run + 1
        if self._empty_run >= self.max_empty_pages:
            raise ConfigError(f"{self.describe}: {self._empty_run} empty pages in a row, each pointing to another "
                              f"page (after page {self.pages}); the API seems to page forever. If it really "
                              "sends that many empty pages, raise `max_empty_pages`")
        if self.max_pages is not None and self.pages >= self.max_pages:
            log.warning("%s: stopped after max_pages (%d); the API had more pages", self.describe, self.max_pages,
                        extra={"event": "max_pages_reached", "what": self.describe, "max_pages": self.max_pages})
            return None
        return following

    def first(self, request: PageRequest) -> PageRequest:
        size = getattr(self.config, "page_size", None)
        if size is not None:
            # A page size the stream sets in its own params wins over the paginator's default.
            return PageRequest(request.url, {self.config.page_size_param: size, **request.params})
        return request

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        return None

    def _once(self, token: Any, what: str, hint: str) -> None:
        if token in self._seen:
            raise ConfigError(f"{self.describe}: pagination loop: the API returned the same {what} "
                              f"{str(token)[:120]!r} again (after page {self.pages}); {hint}")
        self._seen.add(token)

    def _same_page(self, response: httpx.Response, count: int, hint: str) -> None:
        content = response.content
        if count and content == self._previous_page:
            raise ConfigError(f"{self.describe}: pagination loop: page {self.pages} is identical to the one "
                              f"before it; {hint}")
        self._previous_page = content


class CursorPaginator(Paginator):
    config: CursorPaginatorConfig

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        cursor = dig(body, self.config.cursor_path)
        if cursor is None or cursor == "" or cursor is False:
            return None
        self._once(cursor, "next cursor", f"check paginator.cursor_param ({self.config.cursor_param!r}) is the "
                                          "parameter the API reads")
        return PageRequest(request.url, {**request.params, self.config.cursor_param: cursor})


class OffsetPaginator(Paginator):
    config: OffsetPaginatorConfig

    def first(self, request: PageRequest) -> PageRequest:
        cfg = self.config
        return PageRequest(request.url, {**request.params, cfg.limit_param: cfg.limit, cfg.offset_param: cfg.start})

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        cfg = self.config
        # Stop on an empty page, not a short one: many APIs cap the page size below what was asked.
        if count == 0:
            return None
        offset = int(request.params[cfg.offset_param]) + count
        total = announced(response, body, cfg.total_path, cfg.total_header)
        if total is not None and offset >= total:
            return None
        self._same_page(response, count, f"check paginator.offset_param ({cfg.offset_param!r}) is the parameter "
                                         "the API reads")
        return PageRequest(request.url, {**request.params, cfg.offset_param: offset})


class PageNumberPaginator(Paginator):
    config: PageNumberPaginatorConfig
    records = 0
    """Records read so far in the series (against an announced total)."""

    def first(self, request: PageRequest) -> PageRequest:
        first = super().first(request)
        return PageRequest(first.url, {**first.params, self.config.page_param: self.config.start})

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        cfg = self.config
        if count == 0:
            return None
        page = int(request.params[cfg.page_param]) + 1
        self.records += count
        total = announced(response, body, cfg.total_pages_path, cfg.total_pages_header)
        if total is not None and page - cfg.start >= total:
            return None
        records = announced(response, body, cfg.total_path, cfg.total_header)
        if records is not None and self.records >= records:
            return None
        self._same_page(response, count, f"check paginator.page_param ({cfg.page_param!r}) is the parameter the "
                                         "API reads")
        return PageRequest(request.url, {**request.params, cfg.page_param: page})


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """RFC 8288 `Link` header values: [(target, {param: value})]; `rel` may hold several relations.

    A small scanner rather than a regex: quoted parameter values may contain commas and semicolons.
    """
    links: list[tuple[str, dict[str, str]]] = []
    n, pos = len(value), 0

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < n and value[pos] in chars:
            pos += 1

    while True:
        skip(" \t,")
        if pos >= n or value[pos] != "<":
            return links
        close = value.find(">", pos)
        if close < 0:
            return links
        target, pos = value[pos + 1:close].strip(), close + 1
        params: dict[str, str] = {}
        while True:
            skip(" \t")
            if pos >= n or value[pos] != ";":
                break
            pos += 1
            skip(" \t")
            start = pos
            while pos < n and value[pos] not in "=;, \t":
                pos += 1
            name = value[start:pos].lower()
            skip(" \t")
            text = ""
            if pos < n and value[pos] == "=":
                pos += 1
                skip(" \t")
                if pos < n and value[pos] == '"':
                    pos += 1
                    chars: list[str] = []
                    while pos < n and value[pos] != '"':
                        if value[pos] == "\\" and pos + 1 < n:
                            pos += 1
                        chars.append(value[pos])
                        pos += 1
                    pos += 1  # the closing quote
                    text = "".join(chars)
                else:
                    start = pos
                    while pos < n and value[pos] not in ";, \t":
                        pos += 1
                    text = value[start:pos]
            if name:
                params.setdefault(name, text)
        links.append((target, params))


class _UrlPaginator(Paginator):
    """Follows absolute or relative next-page URLs, on the API's own origin only."""

    def _follow(self, request: PageRequest, response: httpx.Response, target: Any, what: str,
                hint: str) -> PageRequest | None:
        import httpx  # already loaded: a response is here

        if not isinstance(target, str) or not target:
            return None
        url = httpx.URL(urljoin(str(response.url), target))
        base = response.request.url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise ConfigError(f"{self.describe}: the next page URL points to another origin "
                              f"({url.scheme}://{url.host}); refusing to send the credentials there")
        self._once(str(url), what, hint)
        return PageRequest(str(url), {})  # the URL carries every parameter the API wants


class LinkHeaderPaginator(_UrlPaginator):
    config: LinkHeaderPaginatorConfig

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        wanted = self.config.rel.lower()
        target = None
        for header in response.headers.get_list("link"):
            for url, params in parse_link_header(header):
                if wanted in params.get("rel", "").lower().split():
                    target = url
        return self._follow(request, response, target, f'rel="{wanted}" link', "the API links back to a page "
                                                                               "already read")


class NextUrlPaginator(_UrlPaginator):
    config: NextUrlPaginatorConfig

    def next(self, request: PageRequest, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        self.pages += 1
        return self._follow(request, response, dig(body, self.config.next_url_path), "next page URL",
                            f"check paginator.next_url_path ({self.config.next_url_path!r})")


_RUNTIME: dict[type, type[Paginator]] = {
    NoPaginatorConfig: Paginator, CursorPaginatorConfig: CursorPaginator, OffsetPaginatorConfig: OffsetPaginator,
    PageNumberPaginatorConfig: PageNumberPaginator, LinkHeaderPaginatorConfig: LinkHeaderPaginator,
    NextUrlPaginatorConfig: NextUrlPaginator,
}


def make_paginator(config: Any, describe: str, *, max_pages: int | None = None,
                   max_empty_pages: int = MAX_EMPTY_PAGES) -> Paginator:
    return _RUNTIME[type(config)](config, describe, max_pages=max_pages, max_empty_pages=max_empty_pages)
