"""The records of one request series: fill in the path, page through it, check and unwrap each page.

A series is one stream's listing, or for a child stream one parent record's listing. Placeholders
(`{property.id}`) take values from the parent record, URL-encoded in the path.

Every response is checked, never trusted (`Expect`), because a page misread as "no more records"
ends the series early and a full refresh then swaps a complete table for a truncated one:

- **An error indicator** (by default a top-level `error`/`errors`/`fault` that is not null, false,
  0 or empty; `error_indicator` changes or disables it) fails the stream with SourceUnavailable.
  The server said this answer is a failure, as a 5xx would, and such failures (`"internal"`, a
  timeout behind a gateway) usually pass; nothing of the stream is committed, so the sync-level
  retry (the connection's `retries`, Dagster's RetryPolicy: a bounded number of attempts) is
  safe and may succeed. It is not retried at request level: the body is the stream's contract,
  not HTTP's, and a deterministic error in a 200 would otherwise cost `attempts` backoffs per page.
- **A records path that is missing, null or not a list of objects** (or, with `single_record`,
  not one object) is a ConfigError: the API breaks the contract the stream declares, which
  retrying does not change; the user either fixes `records` or declares the API's habit
  (`empty_records: [missing, null]` where that really means "no records"; `single_record: true`
  for an endpoint that returns one object).

Messages name the stream, the request path (never the query string, which may hold a key) and
what was found: a type and a short excerpt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson

from connectors.http.client import HttpClient
from connectors.http.paginators import PageRequest, make_paginator
from connectors.rest_api.config import ErrorIndicatorConfig, RestApiConfig, StreamSpec
from connectors.rest_api.request_plan import RequestPlan
from protocol.errors import ConfigError, SourceUnavailable

Record = dict[str, Any]
_COMMON_KEYS = ("data", "items", "results", "records", "value")
_EXCERPT = 120


@dataclass(frozen=True)
class Expect:
    """What one stream's responses must look like: its settings, else the source's."""

    records: str | None
    empty: frozenset[str]
    single: bool
    errors: ErrorIndicatorConfig
    xml: bool = False
    unwrap: str | None = None

    @classmethod
    def of(cls, config: RestApiConfig, spec: StreamSpec) -> Expect:
        records = spec.records if spec.records is not None else config.records
        empty = spec.empty_records if spec.empty_records is not None else config.empty_records
        return cls(records="$" if spec.single_record and records is None else records, empty=frozenset(empty),
                   single=spec.single_record, errors=spec.error_indicator or config.error_indicator,
                   xml=(spec.response_format or config.response_format) == "xml", unwrap=spec.unwrap)

    def parse(self, content: bytes, what: str) -> Any:
        """A response body as JSON values (XML mapped as `xml_records` says)."""
        if self.xml:
            from connectors.rest_api.xml_records import parse_xml  # defusedxml and ElementTree: XML APIs only

            return parse_xml(content, what)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise SourceUnavailable(f"{what}: the API returned invalid JSON: {exc}") from exc


def excerpt(value: Any) -> str:
    """A short, one-line JSON rendering of `value` for a message."""
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def describe(value: Any) -> str:
    """What a value is, for a message: `null`, `an object {"id": 1}`, `a string "x"`."""
    if value is None:
        return "null"
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
    return f"{kind} {excerpt(value)}"


def check_error(body: Any, rule: ErrorIndicatorConfig, what: str) -> None:
    """Raise SourceUnavailable if the body carries an error indicator (see the module docstring)."""
    if not isinstance(body, dict):
        return  # a top-level list has no error keys
    for path in rule.paths:
        found, value = _lookup(body, path)
        if not found:
            continue
        if rule.when == "truthy":
            failed = value not in (None, False, 0, "") and value != [] and value != {}
        elif rule.when == "not_null":
            failed = value is not None
        elif rule.when == "equals":
            failed = value == rule.value and type(value) is type(rule.value)
        else:
            failed = not (value == rule.value and type(value) is type(rule.value))
        if failed:
            raise SourceUnavailable(f"{what}: the API answered with an error in the body: {path} = {excerpt(value)}")


def _lookup(body: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dot path: unlike `dig`, tells a missing key from a null value."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def extract_records(body: Any, expect: Expect, what: str) -> list[Record]:
    """The records of one response body, checked against `expect` (see the module docstring)."""
    check_error(body, expect.errors, what)
    path = expect.records
    if path in ("$", ".", ""):
        node = body
    elif path is None:
        node = _detect(body, what)
    else:
        found, node = _xml_records_at(body, path) if expect.xml else _lookup(body, path)
        if not found:
            if "missing" in expect.empty:
                return []
            keys = ", ".join(map(str, body))[:200] if isinstance(body, dict) else describe(body)
            raise ConfigError(f"{what}: records path {path!r} is not in the response (found: {keys}); if the API "
                              "leaves it out when there are no records, set `empty_records: [missing]`")
    where = path or "$"
    if node is None:
        if "null" in expect.empty:
            return []
        raise ConfigError(f"{what}: the records at {where!r} are null, not a list; if the API sends null when "
                          "there are no records, set `empty_records: [null]`")
    if expect.single:
        if type(node) is dict:
            return [node]
        raise ConfigError(f"{what}: single_record is set but the records at {where!r} are {describe(node)}")
    if not isinstance(node, list):
        hint = "; for an endpoint that returns one object, set `single_record: true`" if type(node) is dict else ""
        raise ConfigError(f"{what}: the records at {where!r} are {describe(node)}, not a list of objects{hint}")
    bad = next((i for i, r in enumerate(node) if type(r) is not dict), None)
    if bad is not None:
        raise ConfigError(f"{what}: the records at {where!r} are not a list of objects: item {bad} is "
                          f"{describe(node[bad])}")
    return node if expect.unwrap is None else unwrap_records(node, expect.unwrap, what)


def unwrap_records(items: list[Record], path: str, what: str) -> list[Record]:
    """Each item's record at `path`, with the item's other top-level keys beside its own fields."""
    head = path.split(".", 1)[0]
    records: list[Record] = []
    for index, item in enumerate(items):
        found, inner = _lookup(item, path)
        if not found or type(inner) is not dict:
            raise ConfigError(f"{what}: item {index} has no object at `unwrap: {path}` (found "
                              f"{describe(inner) if found else 'keys: ' + ', '.join(map(str, item))[:200]})")
        records.append({**{k: v for k, v in item.items() if k != head}, **inner})
    return records


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
    raise ConfigError(f"{what}: the response is not a JSON object or list but {describe(body)}")


PageT = TypeVar("PageT")
Convert = Callable[[httpx.Response, Expect, str], tuple[PageT, Any, int]]
"""Turns one response into (page, the body the paginator reads, the page's record count)."""
_BODY_PATH_FIELDS = ("cursor_path", "next_url_path", "total_path", "total_pages_path")


def python_page(response: httpx.Response, expect: Expect, what: str) -> tuple[list[Record], Any, int]:
    """The records of a response as Python objects: the path every format and setting takes."""
    body = expect.parse(response.content, what)
    records = extract_records(body, expect, what)
    return records, body, len(records)


def body_paths(config: RestApiConfig, spec: StreamSpec) -> list[str]:
    """The body paths a page's paginator and error check read (besides the records)."""
    paginator = spec.paginator or config.paginator
    paths = [getattr(paginator, name) for name in _BODY_PATH_FIELDS if getattr(paginator, name, None)]
    return [*paths, *Expect.of(config, spec).errors.paths]


def series(http: HttpClient, config: RestApiConfig, spec: StreamSpec, values: Mapping[str, Any],
           extra_params: Mapping[str, Any]) -> Iterator[list[Record]]:
    """Pages of records of one request series, in order; every page checked before it is yielded.

    `values`: the placeholders' values of the series (the parent record as `parent` and its alias,
    `property`, `cursor`, `window`).
    """
    return walk(http, config, spec, values, extra_params, python_page)


def walk(http: HttpClient, config: RestApiConfig, spec: StreamSpec, values: Mapping[str, Any],
         extra_params: Mapping[str, Any], convert: Convert[PageT]) -> Iterator[PageT]:
    """`series` with another page converter (`connectors.rest_api.arrow_series`: Arrow batches)."""
    plan = RequestPlan(config, spec, values)
    paginator = make_paginator(
        plan.paginator_config, f"stream {spec.name!r}",
        max_pages=spec.max_pages if spec.max_pages is not None else config.max_pages,
        max_empty_pages=spec.max_empty_pages if spec.max_empty_pages is not None else config.max_empty_pages)
    expect = Expect.of(config, spec)
    request: PageRequest | None = paginator.first(PageRequest(plan.url, {**plan.params, **extra_params}))
    while request is not None:
        response = plan.send(http, request)
        if response.status_code in spec.ignore_statuses:
            return
        what = f"stream {spec.name!r} ({spec.method} {response.request.url.path})"
        page, body, count = convert(response, expect, what)
        yield page
        request = paginator.advance(request, response, body, count)


def _xml_records_at(body: Any, path: str) -> tuple[bool, Any]:
    from connectors.rest_api.xml_records import records_at

    return records_at(body, path)
