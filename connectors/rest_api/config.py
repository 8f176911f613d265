"""The `rest_api` source's configuration: everything about a REST API that fits in connection YAML.

Validated up front (unknown keys, bad types, placeholders that name no parent, parents that do not
exist or form a cycle, key fields missing from a declared schema, a property stream that does not
exist), so a mistake is one error at a file:line rather than a failure halfway through a sync.
docs/rest_api.md is the reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.http.auth import AuthConfig
from connectors.http.models import BaseUrl, StrictModel
from connectors.http.paginators import NoPaginatorConfig, PaginatorConfig
from connectors.http.retry import RetryConfig
from connectors.rest_api.cursor_format import CURSOR_PLACEHOLDERS, zone
from connectors.rest_api.templates import PAGING_NAMES, TemplateError, check_names, names_in, paging_placeholders
from protocol.durations import Duration
from protocol.durations import parse_duration as parse_duration  # rest_api.cursor's; values arrive parsed already

NAME = r"^[a-z_][a-z0-9_]*$"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
ALIAS_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.([^{}\s]+)")

Scalar = str | int | float | bool


def _null_word(value: Any) -> Any:
    # YAML reads a bare `null` in `empty_records: [missing, null]` as None: it means the word.
    return "null" if value is None else value


EmptyForm = Annotated[Literal["missing", "null"], BeforeValidator(_null_word)]


def _arrow_type(text: str) -> str:
    # pyarrow parses the name: imported only by connections that declare a schema.
    from connectors.rest_api.arrow_types import parse_arrow_type

    parse_arrow_type(text)
    return text


ArrowTypeName = Annotated[str, AfterValidator(_arrow_type)]


class IncrementalConfig(StrictModel):
    """How a stream reads only what changed since the last sync."""

    cursor_field: str = Field(description="Record field that grows with every change (e.g. updated_at).")
    param: str | None = Field(None, description="Query parameter that takes the saved cursor (inclusive, ≥). "
                                                "Omit to filter client-side after reading everything.")
    start: Scalar | None = Field(None, description="Cursor value of the first sync (else: everything).")
    lookback: Duration | None = Field(None, description="Ask for this much before the saved cursor (a duration, "
                                                        "e.g. 2h; a plain number for `number` cursors), for APIs "
                                                        "whose data settles late.")
    cursor_type: Literal["timestamp", "date", "number", "string"] = "timestamp"
    ordered: bool = Field(False, description="The API lists records in ascending cursor order: checkpoint "
                                             "after every page (else once, at the end of the stream).")
    resume_params: dict[str, Scalar] = Field(default_factory=dict, description="Sent along with a saved cursor "
                                             "only, e.g. {include_deleted: true} to receive deletions.")
    end_param: str | None = Field(None, description="Query parameter that takes the stream's end_date.")
    format: str | None = Field(None, description="strftime format of the cursor as the API reads it in requests "
                                                 "(e.g. '%m/%d/%Y'), and as records carry it if not ISO 8601.")
    watermark: Literal["sync_start"] | None = Field(None, description=(
        "sync_start: the records carry no cursor; send the previous sync's start time (minus lookback) and save "
        "this sync's start time as the cursor."))

    @model_validator(mode="before")
    @classmethod
    def _number_lookback(cls, data: Any) -> Any:
        # Checked on the raw value: once validated, `lookback: 2h` and `lookback: 7200` are the same float.
        if isinstance(data, dict) and data.get("cursor_type") == "number" and isinstance(data.get("lookback"), str):
            raise ValueError("with cursor_type number, lookback is a number subtracted from the cursor")
        return data

    @model_validator(mode="after")
    def _check_lookback(self) -> Self:
        if self.lookback is not None and self.cursor_type == "string":
            raise ValueError("lookback needs a cursor_type of timestamp, date or number")
        if self.watermark is not None and self.cursor_type not in ("timestamp", "date"):
            raise ValueError("watermark: sync_start keeps a time: cursor_type must be timestamp or date")
        return self


class WindowsConfig(StrictModel):
    """Date-range windows: the stream is read one [start, end) window at a time, from its start to now."""

    size: Duration = Field(gt=0, description="Length of one window (a duration, e.g. 30 days).")
    start_param: str | None = Field(None, description="Query parameter that takes the window's start.")
    end_param: str | None = Field(None, description="Query parameter that takes the window's end.")
    format: str | None = Field(None, description="strftime format of the bounds (default: incremental.format, "
                                                 "else ISO 8601).")


class ErrorIndicatorConfig(StrictModel):
    """Where a 200 response says it failed anyway, and which value of it means failure.

    A path absent from the body never signals an error. `truthy` (the default) ignores null,
    false, 0, "" and empty lists/objects, the usual "no error" markers (`"error": false`,
    `"errors": []`).
    """

    paths: list[str] = Field(default_factory=lambda: ["error", "errors", "fault"], description=(
        "Dot paths looked up in every response body; [] turns the check off (records that legitimately have an "
        "`errors` key when the body is the record, e.g.)."))
    when: Literal["truthy", "not_null", "equals", "not_equals"] = Field("truthy", description=(
        "Which value at a path means failure: truthy (not null/false/0/empty), not_null (anything but null), "
        "equals / not_equals `value` (compared as JSON values: 500 is not \"500\")."))
    value: Scalar | None = Field(None, description="What `equals` / `not_equals` compare with.")

    @model_validator(mode="after")
    def _check_value(self) -> Self:
        if self.when in ("equals", "not_equals") and self.value is None:
            raise ValueError(f"when: {self.when} needs a `value` to compare with")
        return self


class ParentConfig(StrictModel):
    """Makes a stream a child: one request series per record of the parent stream."""

    stream: str = Field(description="The parent stream (another stream of this source).")
    alias: str = Field("parent", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                       description="Name of the parent record in placeholders: {alias.field}. "
                                   "{parent.field} always works too.")
    fields: dict[str, str] = Field(default_factory=dict, description="Child field ← parent field (dot path) "
                                                                     "copied into every child record.")


class PropertiesConfig(StrictModel):
    """Source level: the stream that lists the customer's properties (enables property selection)."""

    stream: str = Field(description="The stream whose records are properties (read in full to list them).")
    id_field: str = Field("id", description="Field of a property record that identifies it.")
    name_field: str | None = Field("name", description="Field of a property record that names it (shown by "
                                                       "`rooftop properties`).")


class PropertyConfig(StrictModel):
    """Stream level: the stream's records belong to properties; how to read one property's records."""

    field: str | None = Field(None, description="Record field holding the property id (omit when the "
                                                "records do not carry it).")
    path: str | None = Field(None, description="Endpoint listing one property's records, with {property.field} "
                                               "placeholders; used when properties are selected.")
    ignore_statuses: list[int] | None = Field(None, description="Statuses read as an empty page in the per-"
                                                                "property series (default: the stream's), e.g. "
                                                                "[404] for a property deleted mid-sync.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.field is None and self.path is None:
            raise ValueError("set `field` (the record field holding the property id), `path` (a per-property "
                             "endpoint) or both")
        for inner in PLACEHOLDER.findall(self.path or ""):
            match = ALIAS_PATH.fullmatch(inner)
            if match is None or match.group(1) != "property":
                raise ValueError(f"placeholder {{{inner}}} in property.path must name a field of the property "
                                 "record, e.g. {property.id}")
        return self


class StreamSpec(StrictModel):
    """One stream: an endpoint and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(pattern=NAME)
    path: str = Field(description="Path under base_url; may hold {alias.field} placeholders of a parent.")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Query parameters (placeholders allowed).")
    headers: dict[str, str] = Field(default_factory=dict)
    records: str | None = Field(None, description="Dot path of the record list in the body; '$' = the body "
                                                  "itself. Default: the source's `records`, else detected.")
    primary_key: list[str] = Field(default_factory=list)
    paginator: PaginatorConfig | None = Field(None, description="Default: the source's `paginator`.")
    incremental: IncrementalConfig | None = None
    parent: ParentConfig | None = None
    property_scope: PropertyConfig | None = Field(None, alias="property", description=(
        "The records belong to properties (needs the source's `properties`): the field holding the property "
        "id and/or a per-property endpoint."))
    declared_schema: dict[str, ArrowTypeName] | None = Field(None, alias="schema", description=(
        "Every field and its Arrow type, e.g. {id: int64, rent: 'decimal(12, 2)', start_date: date}. "
        "Omit to infer the schema from the first pages."))
    deleted_field: str | None = Field(None, description="Field whose non-null value marks a deleted record.")
    ignore_statuses: list[int] = Field(default_factory=list, description="Statuses read as an empty page, e.g. "
                                                                          "[404] for a parent deleted mid-sync.")
    empty_records: list[EmptyForm] | None = Field(None, description=(
        "Record-path forms read as an empty page instead of an error: missing, null. Default: the source's."))
    single_record: bool = Field(False, description="The records path holds one object, read as one record "
                                                   "(`records` defaults to `$`); anything else is an error.")
    unwrap: str | None = Field(None, description=(
        "Dot path of the record inside each list item, for APIs that wrap every record under its type "
        "(`[{\"lease\": {...}, \"unit\": {...}}]`): the record is that object, and the item's other keys are "
        "kept beside its fields as nested objects. An item without it is an error."))
    error_indicator: ErrorIndicatorConfig | None = Field(None, description="Default: the source's.")
    max_pages: int | None = Field(None, ge=1, description="Pages read per request series. Default: the source's.")
    max_empty_pages: int | None = Field(None, ge=1, description="Default: the source's.")
    windows: WindowsConfig | None = Field(None, description="Read in date-range windows walked from the start "
                                                            "date or saved cursor to now, each checkpointed.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field("GET", description=(
        "HTTP method of the stream's requests, e.g. POST for RPC and SOAP APIs that read with a body."))
    body: JsonValue | None = Field(None, description=(
        "JSON body template sent with every request (placeholders allowed; a whole-string placeholder keeps "
        "its value's type)."))
    form: dict[str, Scalar] | None = Field(None, description="Form body template, sent urlencoded "
                                                             "(placeholders allowed).")
    body_text: str | None = Field(None, description="Raw body template (XML/SOAP, text), sent as is with "
                                                    "`content_type`; values are XML-escaped in an XML body.")
    content_type: str = Field("text/plain; charset=utf-8", description="Content-Type of `body_text`, e.g. "
                                                                     "'text/xml; charset=utf-8'.")
    response_format: Literal["json", "xml"] | None = Field(None, description="How responses are parsed. Default: "
                                                                             "the source's.")
    description: str = ""

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        texts = [(self.path, True), *((v, False) for v in self.params.values() if isinstance(v, str))]
        aliases = {"parent", self.parent.alias} if self.parent else set()
        for text, in_path in texts:
            for inner in PLACEHOLDER.findall(text):
                if inner in CURSOR_PLACEHOLDERS:
                    self._check_cursor_placeholder(inner, in_path)
                    continue
                match = ALIAS_PATH.fullmatch(inner)
                if self.parent is None:
                    raise ValueError(f"placeholder {{{inner}}} in stream {self.name!r} needs a `parent` stream "
                                     "to take values from")
                if match is None or match.group(1) not in aliases:
                    raise ValueError(f"placeholder {{{inner}}} must name a field of the parent record, e.g. "
                                     f"{{{self.parent.alias}.id}}")
        self._check_body()
        if self.windows is not None and self.incremental is not None and self.incremental.param is not None:
            raise ValueError(f"stream {self.name!r}: with `windows`, the window bounds are the filter; remove "
                             "incremental.param (or send the bounds with windows.start_param / end_param)")
        if self.windows is not None and self.incremental is not None and self.incremental.watermark is not None:
            raise ValueError(f"stream {self.name!r}: `windows` already save the end of the last window read; "
                             "remove incremental.watermark")
        scope = self.property_scope
        if scope is not None and scope.path is not None and self.parent is not None:
            raise ValueError(f"stream {self.name!r}: property.path is for top-level streams; a child stream is "
                             "already read per parent record (a child of the property stream is read only for "
                             "selected properties)")
        if self.declared_schema is not None:
            needed = {"primary_key": self.primary_key,
                      "property.field": [scope.field] if scope and scope.field else [],
                      "deleted_field": [self.deleted_field] if self.deleted_field else [],
                      "incremental.cursor_field": [self.incremental.cursor_field] if self.incremental else [],
                      "parent.fields": list(self.parent.fields) if self.parent else []}
            for where, names in needed.items():
                for name in names:
                    if name not in self.declared_schema:
                        raise ValueError(f"{where} {name!r} is not in the declared schema of stream {self.name!r} "
                                         f"(fields: {', '.join(self.declared_schema)})")
        return self

    def _check_body(self) -> None:
        bodies = [(key, value) for key, value in (("body", self.body), ("form", self.form),
                                                  ("body_text", self.body_text)) if value is not None]
        if len(bodies) > 1:
            raise ValueError(f"stream {self.name!r}: give one of body, form and body_text, not "
                             f"{' and '.join(key for key, _ in bodies)}")
        if not bodies:
            return
        key, template = bodies[0]
        known = {*(("parent", self.parent.alias) if self.parent else ()), *PAGING_NAMES,
                 *(name.partition(".")[0] for name in CURSOR_PLACEHOLDERS)}
        try:
            check_names(template, known, f"stream {self.name!r} {key}")
        except TemplateError as exc:
            raise ValueError(str(exc)) from exc
        for name in names_in(template):
            if name.partition(".")[0] in ("cursor", "window"):
                self._check_cursor_placeholder(name, in_path=False)

    def _check_cursor_placeholder(self, name: str, in_path: bool) -> None:
        if in_path:
            raise ValueError(f"placeholder {{{name}}} in stream {self.name!r}: put it in a parameter, not the path")
        if name == "cursor" and self.incremental is None:
            raise ValueError(f"placeholder {{cursor}} in stream {self.name!r} needs an `incremental` block")
        if name != "cursor" and self.windows is None:
            raise ValueError(f"placeholder {{{name}}} in stream {self.name!r} needs a `windows` block")


class RestApiConfig(StrictModel):
    """`source.config` of the `rest_api` connector."""

    base_url: BaseUrl = Field(description="Root URL of the API; stream paths are appended to it.")
    auth: AuthConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request (not for secrets: "
                                                                      "use auth).")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Query parameters of every first request.")
    paginator: PaginatorConfig = Field(default_factory=NoPaginatorConfig, description="Default of every stream.")
    records: str | None = Field(None, description="Default record path of every stream.")
    timeout_seconds: Duration = Field(30, gt=0, le=600, description="Connect (at most 10 s) and per-read timeout.")
    request_deadline_seconds: Duration | None = Field(None, gt=0, le=3600, description=(
        "Total time one request attempt may take: connect, send, wait and the whole body. "
        "Default: 4 × timeout_seconds."))
    empty_records: list[EmptyForm] = Field(default_factory=list, description=(
        "Record-path forms read as an empty page instead of an error: missing, null."))
    error_indicator: ErrorIndicatorConfig = Field(default_factory=ErrorIndicatorConfig, description=(
        "Where a 200 body says it failed: by default a non-empty top-level error, errors or fault."))
    max_pages: int | None = Field(None, ge=1, description="Pages read per request series; reaching it stops "
                                                          "reading (a deliberate cap, logged). Default: no cap.")
    max_empty_pages: int = Field(10, ge=1, le=1_000_000, description=(
        "Empty pages in a row, each pointing to a next page, after which a series fails."))
    retries: RetryConfig = Field(default_factory=RetryConfig)
    http2: bool = Field(False, description="Offer HTTP/2 (used over https when the server agrees; needs h2).")
    namespace: str = Field("rest_api", pattern=NAME, description="The catalog's namespace (`namespace: source`).")
    check_path: str | None = Field(None, description="Path `rooftop check` reads; default: the first stream's "
                                                     "first page.")
    infer_pages: int = Field(1, ge=1, le=100, description="Pages sampled per stream to infer a schema.")
    response_format: Literal["json", "xml"] = Field("json", description=(
        "How responses are parsed: json, or xml (records by path from the root element; see XML responses)."))
    timezone: str | None = Field(None, description="IANA zone of the API's naive timestamps (e.g. America/Denver): "
                                                   "read in it and stored as UTC; cursors are sent in it.")
    streams: list[StreamSpec] = Field(min_length=1)
    # After `streams`: its validator checks the property stream against them.
    properties: PropertiesConfig | None = Field(None, validate_default=True, description=(
        "The stream that lists properties: connections may then select properties (`properties:` in the "
        "connection YAML)."))

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        zone(value)
        return value

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, streams: list[StreamSpec]) -> list[StreamSpec]:
        names = [s.name for s in streams]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stream names must be unique: {', '.join(duplicates)}")
        by_name = {s.name: s for s in streams}
        for stream in streams:
            seen = [stream.name]
            current = stream
            while current.parent is not None:
                parent = by_name.get(current.parent.stream)
                if parent is None:
                    raise ValueError(f"stream {current.name!r}: parent stream {current.parent.stream!r} does not "
                                     f"exist (streams: {', '.join(names)})")
                if parent.name in seen:
                    raise ValueError(f"parent streams form a cycle: {' → '.join([*seen, parent.name])}")
                seen.append(parent.name)
                current = parent
        return streams

    @model_validator(mode="after")
    def _check_paging_placeholders(self) -> Self:
        for spec in self.streams:
            template = spec.body if spec.body is not None else spec.form if spec.form is not None else spec.body_text
            offered = paging_placeholders(spec.paginator or self.paginator)
            for name in sorted(names_in(template)):
                if name in PAGING_NAMES and name not in offered:
                    kind = (spec.paginator or self.paginator).type
                    raise ValueError(f"stream {spec.name!r}: placeholder {{{name}}} is not a value of the {kind} "
                                     f"paginator (it offers: {', '.join(sorted(offered)) or 'none'})")
        return self

    @field_validator("properties")
    @classmethod
    def _check_properties(cls, value: PropertiesConfig | None, info: ValidationInfo) -> PropertiesConfig | None:
        streams: list[StreamSpec] | None = info.data.get("streams")
        if streams is None:
            return value  # the streams themselves are invalid: that error is reported
        scoped = [s.name for s in streams if s.property_scope is not None]
        if value is None:
            if scoped:
                raise ValueError(f"stream(s) {', '.join(scoped)} set `property`: declare the stream that lists "
                                 "properties, e.g. properties: {stream: properties, id_field: id}")
            return value
        by_name = {s.name: s for s in streams}
        spec = by_name.get(value.stream)
        if spec is None:
            raise ValueError(f"property stream {value.stream!r} does not exist (streams: {', '.join(by_name)})")
        if spec.property_scope is not None:
            raise ValueError(f"stream {spec.name!r} lists the properties: it takes no `property` of its own")
        if spec.declared_schema is not None:
            for what, name in (("id_field", value.id_field), ("name_field", value.name_field)):
                if name is not None and name not in spec.declared_schema:
                    raise ValueError(f"{what} {name!r} is not in the declared schema of stream {spec.name!r} "
                                     f"(fields: {', '.join(spec.declared_schema)})")
        return value
