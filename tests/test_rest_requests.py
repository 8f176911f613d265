"""Request side of rest_api: methods, JSON / form / raw XML body templates, paging in the body, XML records.

Each API here is a real server on 127.0.0.1 that checks what it receives (method, headers, body)
and answers like the vendor style it imitates: an Entrata-style RPC over POST (one JSON envelope,
the method's name and params inside it, the page number in the params), a SOAP-style XML POST that
answers XML, a form POST. A server that receives the wrong request answers 400, which fails the
stream, so every assertion on records is also an assertion on the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from connectors.rest_api import RestApiConfig, RestApiSource
from connectors.rest_api.templates import OMIT, TemplateError, render, render_raw, render_text
from protocol.errors import ConfigError
from protocol.types import ReadRequest
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

PROPERTIES = [{"propertyId": 101, "name": "Elm & Oak <East>"}, {"propertyId": 202, "name": "Pine"}]
LEASES = {101: [{"id": i, "status": "Current", "rent": 900 + i} for i in range(7)],
          202: [{"id": 100 + i, "status": "Past", "rent": 800} for i in range(3)]}
API_KEY = "entrata-key-77aa"


def read_stream(config: dict[str, Any], root: Path, name: str) -> list[dict[str, Any]]:
    cfg = RestApiConfig.model_validate({"retries": {"attempts": 2, "initial_delay": 0.01}, **config})
    with RestApiSource(cfg, root=root) as source:
        catalog = source.discover().get(name)
        assert catalog is not None
        items = source.read(ReadRequest(stream=catalog, incremental=False, cursor_field=None, state=None))
        return [r for item in items if isinstance(item, pa.RecordBatch) for r in item.to_pylist()]


# --- an Entrata-style RPC over POST: the page in the body --------------------------------------------

def entrata(request: Request) -> Reply:
    """POST /api/v1/{properties|leases} with {"auth", "requestId", "method": {"name", "version", "params"}}."""
    if request.method != "POST" or request.headers.get("x-api-key") != API_KEY:
        return Reply(401, {"response": {"error": {"code": 401, "message": "unauthorized"}}})
    if request.headers.get("content-type") != "application/json" or request.query:
        return Reply(400, {"message": "send JSON, nothing in the query"})
    body = orjson.loads(request.body)
    method = body["method"]
    if body["auth"] != {"type": "apikey"} or body["requestId"] != 15 or method["version"] != "r1":
        return Reply(400, {"message": f"bad envelope {body}"})
    params = method["params"]
    if request.path == "/api/v1/properties" and method["name"] == "getProperties":
        return Reply(body={"response": {"result": {"PhysicalProperty": {"Property": PROPERTIES}}}})
    if request.path == "/api/v1/leases" and method["name"] == "getLeases":
        page, size = params["pagination"]["page"], params["pagination"]["pageSize"]
        if not isinstance(page, int) or not isinstance(params["propertyId"], int):
            return Reply(400, {"message": "page and propertyId must be numbers"})
        leases = LEASES[params["propertyId"]][(page - 1) * size:page * size]
        return Reply(body={"response": {"result": {"leases": {"lease": leases}}}})
    return Reply(400, {"message": "unknown method"})


ENTRATA = {
    "base_url": "{url}/api/v1",
    "auth": {"type": "api_key", "name": "X-Api-Key", "key": API_KEY},
    "streams": [
        {"name": "properties", "path": "/properties", "method": "POST", "primary_key": "propertyId",
         "records": "response.result.PhysicalProperty.Property",
         "body": {"auth": {"type": "apikey"}, "requestId": 15,
                  "method": {"name": "getProperties", "version": "r1", "params": {}}}},
        {"name": "leases", "path": "/leases", "method": "POST", "primary_key": "id",
         "records": "response.result.leases.lease",
         "parent": {"stream": "properties", "alias": "property", "fields": {"property_id": "propertyId"}},
         "paginator": {"type": "page_number", "location": "body", "page_param": "method.params.pagination.page",
                       "page_size": 3, "page_size_param": "method.params.pagination.pageSize"},
         "body": {"auth": {"type": "apikey"}, "requestId": 15,
                  "method": {"name": "getLeases", "version": "r1", "params": {"propertyId": "{property.propertyId}"}}}},
    ],
}


def test_an_rpc_over_post_pages_in_the_body_per_parent(tmp_path: Path) -> None:
    with TestApi(entrata) as api:
        config = {**ENTRATA, "base_url": ENTRATA["base_url"].format(url=api.url)}
        leases = read_stream(config, tmp_path, "leases")
        sent = [orjson.loads(r.body)["method"]["params"] for r in api.requests if r.path.endswith("/leases")]
    assert sorted(r["id"] for r in leases) == sorted(r["id"] for rs in LEASES.values() for r in rs)
    assert {r["property_id"] for r in leases} == {101, 202}
    # Property 101: pages 1-3 (3 + 3 + 1 records), then an empty page 4; property 202: page 1, empty page 2
    # (after the one page that discovery sampled to infer the schema).
    assert [(p["propertyId"], p["pagination"]["page"]) for p in sent[-6:]] == [
        (101, 1), (101, 2), (101, 3), (101, 4), (202, 1), (202, 2)]
    assert all(p["pagination"]["pageSize"] == 3 for p in sent)


# --- a SOAP-style XML POST answering XML ----------------------------------------------------------------

SOAP = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <GetUnits xmlns="http://tempuri.org/">
      <PropertyName>{parent.name}</PropertyName><PageNumber>{page}</PageNumber>
    </GetUnits>
  </soap:Body>
</soap:Envelope>"""


def soap_units(request: Request) -> Reply:
    text = request.body.decode()
    if (request.method, request.path) == ("GET", "/properties"):
        return Reply(body={"data": PROPERTIES})
    if request.method != "POST" or not request.headers.get("content-type", "").startswith("text/xml") \
            or request.headers.get("soapaction") != '"http://tempuri.org/GetUnits"' or "page" in request.query:
        return Reply(400, raw=b"<error>bad request</error>")
    from xml.etree.ElementTree import fromstring  # the test's own server parses what it was sent

    call = fromstring(text).find(".//{http://tempuri.org/}GetUnits")
    assert call is not None
    name = call.findtext("{http://tempuri.org/}PropertyName")
    page = int(call.findtext("{http://tempuri.org/}PageNumber") or 0)
    units = [] if page > 2 else [f'<Unit id="{name[:3]}-{page}-{i}"><Number>{i}</Number><Rent>9{i}0.00</Rent>'
                                 f'<Notes/></Unit>' for i in range(2 if page == 1 else 1)]
    envelope = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                f'<GetUnitsResponse xmlns="http://tempuri.org/"><Units>{"".join(units)}</Units>'
                '</GetUnitsResponse></s:Body></s:Envelope>')
    return Reply(raw=envelope.replace("&", "&amp;").encode() if "&" in (name or "") else envelope.encode(),
                 headers={"Content-Type": "text/xml; charset=utf-8"})


def test_a_soap_call_is_a_post_with_an_xml_body_and_xml_records(tmp_path: Path) -> None:
    with TestApi(soap_units) as api:
        units = read_stream({
            "base_url": api.url,
            "streams": [
                {"name": "properties", "path": "/properties", "records": "data", "primary_key": "propertyId"},
                {"name": "units", "path": "/UnitService.asmx", "method": "POST", "response_format": "xml",
                 "headers": {"SOAPAction": '"http://tempuri.org/GetUnits"'},
                 "body_text": SOAP, "content_type": "text/xml; charset=utf-8",
                 "records": "Envelope.Body.GetUnitsResponse.Units.Unit",
                 "paginator": {"type": "page_number"},
                 "parent": {"stream": "properties", "fields": {"property_id": "propertyId"}},
                 "schema": {"@id": "string", "Number": "int64", "Rent": "decimal(10, 2)", "Notes": "string",
                            "property_id": "int64"}},
            ]}, tmp_path, "units")
        sent = [r.body.decode() for r in api.requests if r.method == "POST"]
    # The parent's name went into the XML escaped (a raw `&` or `<` would make the document invalid).
    assert "<PropertyName>Elm &amp; Oak &lt;East&gt;</PropertyName>" in sent[0]
    assert [u["@id"] for u in units] == ["Elm-1-0", "Elm-1-1", "Elm-2-0", "Pin-1-0", "Pin-1-1", "Pin-2-0"]
    # XML has no types: text as sent (the engine coerces to the declared schema when loading).
    assert units[1]["Number"] == "1" and units[1]["Rent"] == "910.00" and units[0]["Notes"] is None
    assert len(sent) == 6  # pages 1, 2 and the empty page 3 (`<Units/>`: no records) per property


# --- form bodies, placeholders, and the errors a wrong template gets ---------------------------------------

def test_a_form_post_with_the_offset_in_the_form(tmp_path: Path) -> None:
    records = [{"id": i} for i in range(5)]

    def route(request: Request) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        if request.method != "PUT" or request.headers["content-type"] != "application/x-www-form-urlencoded" \
                or form.get("scope") != "all" or request.query:
            return Reply(400, {"message": "bad"})
        offset, limit = int(form["skip"]), int(form["take"])
        return Reply(body={"items": records[offset:offset + limit]})

    with TestApi(route) as api:
        got = read_stream({"base_url": api.url, "streams": [
            {"name": "things", "path": "/search", "method": "PUT", "records": "items", "form": {"scope": "all"},
             "schema": {"id": "int64"},
             "paginator": {"type": "offset", "limit": 2, "location": "body", "offset_param": "skip",
                           "limit_param": "take"}}]}, tmp_path, "things")
        assert [r["id"] for r in got] == [0, 1, 2, 3, 4] and len(api.requests) == 4  # 2 + 2 + 1 + an empty page


def test_whole_placeholders_keep_their_type_nulls_leave_their_member_out() -> None:
    values = {"page": 3, "cursor": None, "parent": {"id": 7, "name": "a&b"}, "window": {"start": "01/31/2024"}}
    body = {"page": "{page}", "label": "p{page}", "since": "{cursor}", "filter": "gt,{cursor}",
            "ids": ["{parent.id}", "{cursor}"], "from": "{window.start}", "literal": "{{page}}", "json": '{"a": 1}'}
    assert render(body, values) == {"page": 3, "label": "p3", "ids": [7, None], "from": "01/31/2024",
                                    "literal": "{page}", "json": '{"a": 1}'}
    assert render_text("{cursor}", values) is OMIT
    assert render_raw("<n>{parent.name}</n><c>{cursor}</c>", values) == "<n>a&b</n><c></c>"
    with pytest.raises(TemplateError, match=r"the parent record has no value for \{parent.code\}"):
        render({"x": "{parent.code}"}, values)


@pytest.mark.parametrize(("stream", "message"), [
    ({"body": {"p": "{page}"}}, r"placeholder \{page\} is not a value of the none paginator"),
    ({"body": {"p": "{pge}"}}, r"placeholder \{pge\} in stream 's' body names no value"),
    ({"body": {"p": "{parent.id}"}}, r"placeholder \{parent.id\} in stream 's' body names no value"),
    ({"body": {}, "form": {"a": 1}}, "give one of body, form and body_text, not body and form"),
    ({"method": "FETCH"}, "Input should be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'"),
])
def test_a_wrong_request_template_is_refused_when_the_yaml_is_loaded(stream: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RestApiConfig.model_validate({"base_url": "http://x", "streams": [{"name": "s", "path": "/s", **stream}]})


def test_paging_in_the_body_cannot_go_into_raw_text(tmp_path: Path) -> None:
    with TestApi(lambda r: Reply(body={"data": []})) as api, pytest.raises(ConfigError, match="put placeholders"):
        read_stream({"base_url": api.url, "streams": [
            {"name": "s", "path": "/s", "method": "POST", "body_text": "<x/>", "records": "data",
             "paginator": {"type": "page_number", "location": "body"}}]}, tmp_path, "s")
