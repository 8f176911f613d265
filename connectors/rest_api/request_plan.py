"""The requests of one series: method, URL, query and body, with the paginator's position routed where it goes.

A stream's templates (path, params, `body` / `form` / `body_text`) are filled in with the series'
values (`connectors.rest_api.templates`): the parent record once per series, the paginator's
position per request. The paginator keeps walking its own parameters as it always does; this
module decides where each one is sent:

- by default in the query string, as `offset=40`;
- with `paginator.location: body`, at its dot path in the JSON body (`method.params.pageNo`) or
  as a form field, for RPC APIs that read everything from a POST body (Entrata);
- wherever the stream's body template places it with a placeholder (`{page}`, `{offset}`,
  `{page_cursor}`…), and then nowhere else: a raw XML body gets its page number that way.

Values written into an XML `body_text` are XML-escaped, so a parent's name with `&` or `<` cannot
break (or inject into) the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

from connectors.http.client import HttpClient
from connectors.http.paginators import PageRequest
from connectors.rest_api.config import RestApiConfig, StreamSpec
from connectors.rest_api.templates import (
    Encode,
    TemplateError,
    names_in,
    paging_placeholders,
    render,
    render_raw,
    render_text,
    set_path,
)
from protocol.errors import ConfigError


def _in_path(text: str) -> str:
    return quote(text, safe="")


class RequestPlan:
    """Builds and sends each request of one series of `spec` (see the module doc)."""

    def __init__(self, config: RestApiConfig, spec: StreamSpec, values: Mapping[str, Any]) -> None:
        self.spec = spec
        self.values: dict[str, Any] = {"cursor": None, "window": None, **values}
        self.paginator_config = spec.paginator or config.paginator
        self.url = str(self._fill(lambda: render_text(spec.path, self.values, _in_path)))
        self.params: dict[str, Any] = {**config.params, **self._fill(lambda: render(spec.params, self.values))}
        self.paging = paging_placeholders(self.paginator_config)
        template = spec.body if spec.body is not None else spec.form if spec.form is not None else spec.body_text
        placed = names_in(template)
        in_body = getattr(self.paginator_config, "location", "query") == "body"
        if in_body and spec.body_text is not None:
            raise ConfigError(f"stream {spec.name!r}: paginator.location: body cannot place values in body_text; "
                              "put placeholders such as {page} in the text instead")
        self._not_in_query = {param for name, param in self.paging.items() if name in placed or in_body}
        """The paginator's parameters that are sent in the body, not the query string."""
        self._at_paths = [param for name, param in self.paging.items() if in_body and name not in placed]
        """The paginator's parameters written at their dot path of the body."""
        self._encode: Encode | None = escape if "xml" in spec.content_type.lower() else None

    def _fill(self, fill: Callable[[], Any]) -> Any:
        try:
            return fill()
        except TemplateError as exc:
            raise ConfigError(f"stream {self.spec.name!r}: {exc}") from exc

    def send(self, http: HttpClient, request: PageRequest) -> httpx.Response:
        """Send one request of the series: the query the paginator built, the body filled in for its page."""
        spec = self.spec
        query = {k: v for k, v in request.params.items() if k not in self._not_in_query}
        values = {**self.values, **{name: request.params.get(param) for name, param in self.paging.items()}}
        position = {param: request.params[param] for param in self._at_paths if param in request.params}
        headers = dict(spec.headers)
        json: Any = None
        data: dict[str, Any] | None = None
        content: str | None = None
        if spec.form is not None:
            data = {**self._fill(lambda: render(spec.form, values)), **position}
        elif spec.body_text is not None:
            content = self._fill(lambda: render_raw(spec.body_text or "", values, self._encode))
            headers.setdefault("Content-Type", spec.content_type)
        elif spec.body is not None or position:
            json = self._fill(lambda: render(spec.body, values)) if spec.body is not None else {}
            for param, value in position.items():
                json = set_path(json, param, value)
        return http.request(spec.method, request.url, params=query, json=json, data=data, content=content,
                            headers=headers, ignore_statuses=spec.ignore_statuses, stream=spec.name)
