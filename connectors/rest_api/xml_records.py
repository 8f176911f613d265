"""XML responses (SOAP and legacy PMS APIs) as the JSON-like values the rest of `rest_api` reads.

A vendor's response is untrusted input. It is parsed by defusedxml, which refuses any DTD, so no
entity is ever expanded (the "billion laughs" bomb that makes a few hundred bytes into gigabytes)
and no external entity is fetched (a response that would read a local file or a URL). Such a
document, or one that is not well-formed, fails the stream with SourceUnavailable naming the
problem, never a hang. Nesting deeper than MAX_DEPTH is refused the same way rather than
overflowing the stack.

The mapping, close to the common xmltodict convention so a records path reads naturally:

- namespaces are dropped (`soap:Envelope` and `{http://…}Envelope` are both `Envelope`);
- an element with neither attributes nor children is its text (`<Rent>950.00</Rent>` → "950.00",
  `<Notes/>` → null): XML has no types, so declare a schema to load numbers and dates;
- any other element is an object: attributes as `@name`, children by tag, a tag repeated among
  siblings as a list, text beside children as `#text`;
- the document is `{root tag: value}`, so records paths start at the root:
  `Envelope.Body.GetLeasesResponse.Leases.Lease`.

XML cannot tell a list of one from a single element, nor an empty list from none: `records_at`
reads one element at the records path as a one-record list, and a records path whose last element
is absent under a present parent (`<Leases/>`) as no records.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from protocol.errors import SourceUnavailable

MAX_DEPTH = 100
"""Element nesting deeper than this is refused: no API nests records that deep, a hostile body might."""


def parse_xml(content: bytes, what: str) -> dict[str, Any]:
    """The document as `{root tag: value}` (see the module doc); SourceUnavailable if it is not safe XML."""
    try:
        root = fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SourceUnavailable(f"{what}: the XML response was refused: it declares a DTD or entities "
                                f"({type(exc).__name__}), which an API response never needs") from exc
    except ParseError as exc:
        raise SourceUnavailable(f"{what}: the API returned invalid XML: {exc}") from exc
    return {local_name(root.tag): _value(root, 1, what)}


def local_name(tag: str) -> str:
    """`{namespace}Tag` or `prefix:Tag` → `Tag`."""
    return tag.rpartition("}")[2].rpartition(":")[2]


def _value(element: Element, depth: int, what: str) -> Any:
    if depth > MAX_DEPTH:
        raise SourceUnavailable(f"{what}: the XML response nests elements deeper than {MAX_DEPTH} levels")
    text = (element.text or "").strip()
    if not len(element) and not element.attrib:
        return text or None
    node: dict[str, Any] = {f"@{local_name(k)}": v for k, v in element.attrib.items()}
    repeated: set[str] = set()  # children already turned into lists (a child's own value may be a list)
    for child in element:
        name = local_name(child.tag)  # the parser drops comments and processing instructions
        value = _value(child, depth + 1, what)
        if name not in node:
            node[name] = value
        elif name in repeated:
            node[name].append(value)
        else:
            node[name] = [node[name], value]
            repeated.add(name)
    if text:
        node["#text"] = text
    return node


def records_at(body: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at the records path of an XML body, read as a list (see the module doc)."""
    parts = path.split(".")
    node = body
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif i == len(parts) - 1 and (isinstance(node, dict) or (node is None and i > 0)):
            return True, []  # the parent is there (maybe empty, `<Leases/>`): no records
        else:
            return False, None
    if isinstance(node, dict):
        return True, [node]
    return True, node
