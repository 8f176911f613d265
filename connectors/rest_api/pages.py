"""The records of one request series: fill in the path, page through it, find the record list.

A series is one stream's listing, or for a child stream one parent record's listing. Placeholders
(`{property.id}`) take values from the parent record, URL-encoded in the path. The record list is
found at the stream's `records` dot path (`$` = the body itself); without one, a top-level list,
or the only list of objects in a top-level object, is used, and anything ambiguous is an error that
names the keys the body has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from connectors.http.client import HttpClient
from connectors.http.paginators import PageRequest, dig, make_paginator
from connectors.rest_api.config import ALIAS_PATH, PLACEHOLDER, RestApiConfig, StreamSpec
from protocol.errors import ConfigError, SourceUnavailable

Record = dict[str, Any]
_COMMON_KEYS = ("data", "items", "results", "records", "value")


def render(text: str, values: Mapping[str, Any], stream: str, *, in_path: bool) -> str:
    """`text` with every {alias.field} replaced by the parent record's value."""
    if "{" not in text:
        return text

    def value(match: Any) -> str:
        inner = match.group(1)
        parsed = ALIAS_PATH.fullmatch(inner)
        record = values.get(parsed.group(1)) if parsed else None
        found = dig(record, parsed.group(2)) if parsed and record is not None else None
        if found is None:
            raise ConfigError(f"stream {stream!r}: the parent record has no value for {{{inner}}}")
        return quote(str(found), safe="") if in_path else str(found)

    return PLACEHOLDER.sub(value, text)


def extract_records(body: Any, path: str | None, what: str) -> list[Record]:
    """The record list of one response body (see the module docstring)."""
    if path in ("$", ".", ""):
        node = body
    elif path is None:
        node = _detect(body, what)
    else:
        node = body
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                keys = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
                raise ConfigError(f"{what}: records path {path!r} is not in the response (found: {keys[:200]})")
    if node is None:
        return []  # some APIs send null instead of an empty list on the last page
    if isinstance(node, dict):
        return [node]  # a single-object endpoint
    if not isinstance(node, list) or not all(type(r) is dict for r in node):
        raise ConfigError(f"{what}: the records at {path or '$'!r} are not a list of objects")
    return node


def _detect(body: Any, what: str) -> Any:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        lists = [k for k, v in body.items() if isinstance(v, list)]
        if len(lists) == 1:
            return body[lists[0]]
        for key in _COMMON_KEYS:
            if isinstance(body.get(key), list):
                return body[key]
        raise ConfigError(f"{what}: cannot tell where the records are (keys: {', '.join(map(str, body))[:200]}); "
                          "set `records` to their dot path")
    raise ConfigError(f"{what}: the response is not a JSON object or list")


def series(http: HttpClient, config: RestApiConfig, spec: StreamSpec, values: Mapping[str, Any],
           extra_params: Mapping[str, Any]) -> Iterator[list[Record]]:
    """Pages of records of one request series, in order."""
    url = render(spec.path, values, spec.name, in_path=True)
    params = {**config.params,
              **{k: render(v, values, spec.name, in_path=False) if isinstance(v, str) else v
                 for k, v in spec.params.items()},
              **extra_params}
    paginator = make_paginator(spec.paginator or config.paginator, f"stream {spec.name!r}")
    records_path = spec.records if spec.records is not None else config.records
    request: PageRequest | None = paginator.first(PageRequest(url, params))
    while request is not None:
        response = http.get(request.url, request.params, headers=spec.headers, ignore_statuses=spec.ignore_statuses,
                            stream=spec.name)
        if response.status_code in spec.ignore_statuses:
            return
        what = f"stream {spec.name!r} (GET {response.request.url.path})"
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SourceUnavailable(f"{what}: the API returned invalid JSON: {exc}") from exc
        records = extract_records(body, records_path, what)
        yield records
        request = paginator.next(request, response, body, len(records))
