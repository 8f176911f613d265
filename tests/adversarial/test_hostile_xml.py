"""Hostile XML responses: bombs, external entities, endless nesting, broken documents.

An XML stream reads whatever the vendor's server (or whoever sits in front of it) sends. Each case
is a real server on 127.0.0.1 answering one hostile document to a real `rest_api` stream: the stream
must fail quickly with SourceUnavailable naming the problem, without expanding an entity (memory
stays flat), without reading a local file, and without overflowing the stack.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from connectors.rest_api import RestApiConfig, RestApiSource
from protocol.errors import SourceUnavailable
from protocol.types import ReadRequest
from tests.support.http_api import Reply, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

# A billion laughs: ten levels of ten references, 10^9 copies of "lol" (3 GB) if expanded.
LAUGHS = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BOMB = f'<?xml version="1.0"?><!DOCTYPE r [{LAUGHS}]><r><Unit><Id>&lol9;</Id></Unit></r>'.encode()
QUADRATIC = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{"x" * 50_000}">]><r><Unit><Id>'
             + "&a;" * 50_000 + "</Id></Unit></r>").encode()
SECRET_FILE = "/etc/hostname"
EXTERNAL = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{SECRET_FILE}">]>'
            "<r><Unit><Id>&x;</Id></Unit></r>").encode()
DEEP = ("<r>" + "<a>" * 100_000 + "</a>" * 100_000 + "</r>").encode()
BROKEN = b"<r><Unit><Id>1</Id></Unit>"


def read(url: str, root: Path) -> list[dict[str, object]]:
    config = RestApiConfig.model_validate({
        "base_url": url, "response_format": "xml", "retries": {"attempts": 1},
        "streams": [{"name": "units", "path": "/units", "method": "POST", "records": "r.Unit",
                     "body_text": "<GetUnits/>", "content_type": "text/xml", "schema": {"Id": "string"}}]})
    with RestApiSource(config, root=root) as source:
        catalog = source.discover().get("units")
        assert catalog is not None
        items = source.read(ReadRequest(stream=catalog, incremental=False, cursor_field=None, state=None))
        return [r for item in items if isinstance(item, pa.RecordBatch) for r in item.to_pylist()]


@pytest.mark.parametrize(("document", "message"), [
    (BOMB, "declares a DTD or entities"),
    (QUADRATIC, "declares a DTD or entities"),
    (EXTERNAL, "declares a DTD or entities"),
    (DEEP, "nests elements deeper than 100 levels"),
    (BROKEN, "invalid XML"),
])
def test_a_hostile_xml_response_fails_the_stream_quickly_without_growing(
        document: bytes, message: str, tmp_path: Path) -> None:
    process = psutil.Process()
    with TestApi(lambda r: Reply(raw=document, headers={"Content-Type": "text/xml"})) as api:
        before, started = process.memory_info().rss, time.monotonic()
        with pytest.raises(SourceUnavailable, match=message) as caught:
            read(api.url, tmp_path)
        elapsed, grown = time.monotonic() - started, process.memory_info().rss - before
    assert elapsed < 5 and grown < 100 * 2**20  # the bomb would be 3 GB, and minutes of work
    assert "stream 'units'" in str(caught.value)
    hostname = Path(SECRET_FILE).read_text().strip() if Path(SECRET_FILE).exists() else "\0"
    assert hostname not in str(caught.value)


def test_a_well_formed_answer_still_reads(tmp_path: Path) -> None:
    xml = b'<?xml version="1.0"?><r><Unit><Id>1</Id></Unit><Unit><Id>2</Id></Unit></r>'
    with TestApi(lambda r: Reply(raw=xml, headers={"Content-Type": "text/xml"})) as api:
        assert read(api.url, tmp_path) == [{"Id": "1"}, {"Id": "2"}]
