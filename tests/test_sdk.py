"""The plugin SDK (`connectors.sdk`) and its test kit (`connectors.sdk.testing`) keep their promises.

The SDK is a surface third-party connectors build on, so its names must exist, be the very objects
the engine uses (re-exported, never copied) and be documented in the guide. `client_for` must give
a plugin the connection's rate limit, name and redaction without the author wiring them, and
`check_source` must catch each rule a broken source breaks (each broken source below breaks one),
while the replay server serves recordings, counts requests and injects faults on a real socket.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import pyarrow as pa
import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

import connectors.sdk as sdk
import connectors.sdk.testing as kit
from connectors.sdk import (
    Catalog,
    CatalogStream,
    ConfigError,
    HttpClient,
    ReadRequest,
    SourceContext,
    SourceItem,
    SourceUnavailable,
    StateCheckpoint,
    bearer_auth,
    client_for,
    records_to_batch,
)
from connectors.sdk.testing import (
    Recording,
    ReplayServer,
    Reply,
    Request,
    SourceConformanceError,
    check_source,
    dropped,
    rate_limited,
    server_error,
    unauthorized,
)

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-connector.md"
TOKEN = "sdk-test-token-5b1e"


@pytest.mark.parametrize("module", [sdk, kit], ids=["sdk", "testing"])
def test_every_public_name_exists_is_the_original_and_is_documented(module: Any) -> None:
    guide = GUIDE.read_text()
    reference = guide[guide.index("## The SDK"):]
    for name in module.__all__:
        value = getattr(module, name)
        home = inspect.getmodule(value)
        # Defined outside connectors.sdk (re-exported) or by one of its own modules, never redefined in __init__.
        assert home is None or home.__name__ != module.__name__, f"{name} is a copy inside {module.__name__}"
        assert f"`{name}`" in module.__doc__, f"{name} is not in {module.__name__}'s docstring"
        assert re.search(rf"`{re.escape(name)}[`(]", reference), f"{name} is not in the guide's SDK reference"
    assert sdk.HttpClient is HttpClient and sdk.records_to_batch is records_to_batch


def test_client_for_keeps_the_connection_s_rate_limit_name_and_secrets(caplog: pytest.LogCaptureFixture) -> None:
    context = SourceContext(connection="acme_tickets", rate_limit_requests=5, rate_limit_per_seconds=1.0)
    with ReplayServer(lambda request: Reply(body={"ok": True})) as api, \
            client_for(context, api.url, auth=bearer_auth(SecretStr(TOKEN), "api_token")) as http:
        api.inject("/things", server_error(503))
        caplog.set_level(logging.DEBUG, logger="rooftop.http")
        for n in range(4):
            http.request("POST", "/things", json={"n": n}, stream="things")
    arrived = [r.at for r in api.requests]
    assert [json.loads(r.body) for r in api.requests] == [{"n": 0}, {"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    # 5 per second: requests leave 0.2 s apart, the retry of the 503 included (measured where they arrive,
    # so each gap may look a little shorter or longer; the five together cannot take less than ~0.8 s).
    assert min(b - a for a, b in zip(arrived, arrived[1:], strict=False)) >= 0.12
    assert arrived[-1] - arrived[0] >= 0.75
    events = [r for r in caplog.records if getattr(r, "event", None)]
    assert {r.event for r in events} >= {"http_request", "http_retry"}  # type: ignore[attr-defined]
    assert {r.connection for r in events} == {"acme_tickets"}  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text + str([r.__dict__ for r in caplog.records])


def test_a_refused_token_names_its_field() -> None:
    with ReplayServer(lambda request: unauthorized()) as api, \
            client_for(SourceContext(), api.url, auth=bearer_auth(SecretStr(TOKEN), "auth.token")) as http, \
            pytest.raises(sdk.AuthError, match=r"source\.config\.auth\.token") as refused:
        http.get("/me")
    assert TOKEN not in str(refused.value)


def test_the_replay_server_serves_a_recording_and_injects_faults(tmp_path: Path) -> None:
    recorded = tmp_path / "pages.json"
    recorded.write_text(json.dumps([
        {"path": "/v1/units", "query": {"page": 1}, "body": {"units": [{"id": 1}], "next": 2}},
        {"path": "/v1/units", "query": {"page": 2}, "body": {"units": [{"id": 2}], "next": None}},
        {"path": "/v1/units", "method": "POST", "status": 201, "body": {"id": 3}},
    ]))
    with ReplayServer(Recording.load(recorded)) as api, \
            client_for(SourceContext(), api.url, retry=sdk.RetryConfig(attempts=4, initial_delay=0)) as http:
        api.inject("/v1/units", rate_limited(0), dropped(), server_error(502))
        assert http.get("/v1/units", {"page": 2, "per_page": 10}).json()["units"] == [{"id": 2}]
        assert http.get("/v1/units", {"page": 1}).json()["next"] == 2
        assert http.request("POST", "/v1/units", json={}).status_code == 201
        with pytest.raises(ConfigError, match="404"):  # not recorded: loud, never an empty page
            http.get("/v1/units", {"page": 3})
        assert api.count("/v1/units") == 4 + 1 + 1 + 1
        assert api.count() == api.count("/v1/units")


# --- check_source: one good source, and one broken copy per rule -------------------------------------

class NumbersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str
    token: SecretStr


NUMBERS = CatalogStream("numbers", pa.schema([pa.field("n", pa.int64()), pa.field("at", pa.timestamp("us"))]),
                        primary_key=("n",), default_cursor="n")


def numbers_api(request: Request) -> Reply:
    """`GET /numbers?since=K&page=P`: the numbers K..9, three per page."""
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return unauthorized("bad token")
    since, page = int(request.query.get("since", 0)), int(request.query["page"])
    rows = [{"n": n, "at": f"2024-01-01T00:00:0{n}"} for n in range(since, 10)][page * 3:page * 3 + 3]
    return Reply(body={"rows": rows, "more": bool(rows) and rows[-1]["n"] < 9})


class NumbersSource:
    name: ClassVar[str] = "numbers"
    config_model: ClassVar[type[BaseModel]] = NumbersConfig

    def __init__(self, config: NumbersConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.config, self.context = config, context or SourceContext()
        self.http: HttpClient | None = None

    def __enter__(self) -> Self:
        self.http = client_for(self.context, self.config.base_url, retry=sdk.RetryConfig(attempts=1),
                               auth=bearer_auth(self.config.token, "token"))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.http is not None:
            self.http.close()

    def check(self) -> None:
        assert self.http is not None
        self.http.get("/numbers", {"page": 0})

    def discover(self) -> Catalog:
        return Catalog("numbers", (NUMBERS,))

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        assert self.http is not None
        since = (request.state or {}).get("cursor", 0) if request.incremental else 0
        page = 0
        while True:
            body = self.http.get("/numbers", {"since": since, "page": page}).json()
            if body["rows"]:
                yield records_to_batch(body["rows"], NUMBERS.schema)
                yield StateCheckpoint(self.state(body["rows"][-1]["n"]))
            if not body["more"]:
                return
            page += 1

    def state(self, cursor: int) -> dict[str, Any]:
        return {"cursor": cursor}


def _problems(source: type[Any], *, token: str = TOKEN) -> list[str]:
    with ReplayServer(numbers_api) as api:
        try:
            check_source(source, {"base_url": api.url, "token": token}, server=api)
        except SourceConformanceError as failed:
            assert TOKEN not in str(failed)  # the report itself must not print the secret
            return failed.problems
    return []


def test_a_source_that_keeps_the_rules_passes_with_a_report() -> None:
    with ReplayServer(numbers_api) as api:
        report = check_source(NumbersSource, {"base_url": api.url, "token": TOKEN}, server=api)
    numbers = report.streams["numbers"]
    assert (numbers.rows, numbers.checkpoints, numbers.state) == (10, 4, {"cursor": 9})
    assert numbers.incremental_rows == (10, 1) and numbers.incremental_requests == (4, 1)


class ExtraColumn(NumbersSource):
    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        for item in super().read(request):
            yield item.append_column("colour", pa.nulls(item.num_rows, pa.string())) \
                if isinstance(item, pa.RecordBatch) else item


class WrongType(NumbersSource):
    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        for item in super().read(request):
            yield item.set_column(0, "n", item.column("n").cast(pa.float64())) \
                if isinstance(item, pa.RecordBatch) else item


class DatetimeState(NumbersSource):
    def state(self, cursor: int) -> dict[str, Any]:
        return {"cursor": datetime(2024, 1, 1, tzinfo=UTC)}


class MoreFromState(NumbersSource):
    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        yield from super().read(request)
        if request.state:  # a resumed read that re-reads everything, and then some
            yield from super().read(ReadRequest(request.stream, False, None, None))


class NoCheckpoint(NumbersSource):
    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        yield from (item for item in super().read(request) if not isinstance(item, StateCheckpoint))


class LeakyError(NumbersSource):
    def check(self) -> None:
        raise ConfigError(f"cannot log in with {self.config.token.get_secret_value()}")


class LeakyLog(NumbersSource):
    def check(self) -> None:
        logging.getLogger("plugin").warning("using token %s", self.config.token.get_secret_value())
        super().check()


class NoAuthCheck(NumbersSource):
    def check(self) -> None:
        return None


class EagerConstructor(NumbersSource):
    def __init__(self, config: NumbersConfig, *, root: Path, context: SourceContext | None = None) -> None:
        super().__init__(config, root=root, context=context)
        httpx.get(f"{config.base_url}/numbers?page=0")


class LibraryError(NumbersSource):
    def discover(self) -> Catalog:
        raise KeyError("streams")


@pytest.mark.parametrize(("source", "problem"), [
    (ExtraColumn, "column 'colour', which the catalog's schema does not have"),
    (WrongType, "column 'n' arrives as double; the catalog says int64"),
    (DatetimeState, "is not JSON-serialisable"),
    (MoreFromState, "reading from the saved state {'cursor': 9} gave 11 rows, more than the 10"),
    (NoCheckpoint, "yielded no StateCheckpoint"),
    (LeakyError, "ConfigError carries a secret config value in its message or cause: ConfigError: cannot log in "
                 "with ***"),
    (LeakyLog, "a secret config value appears in 2 log record(s), e.g. plugin: using token ***"),
    (NoAuthCheck, "check() passed with every secret config value replaced by a wrong one"),
    (EagerConstructor, "the constructor sent 1 request(s)"),
    (LibraryError, "raised KeyError (not a protocol.errors class: the engine treats it as a bug)"),
], ids=lambda value: value.__name__ if isinstance(value, type) else "")
def test_check_source_names_the_rule_a_source_breaks(source: type[NumbersSource], problem: str) -> None:
    problems = _problems(source)
    assert problem in problems[0], problems


def test_check_source_refuses_a_config_that_ignores_unknown_keys() -> None:
    class LooseConfig(NumbersConfig):
        model_config = ConfigDict(extra="ignore")

    class Loose(NumbersSource):
        config_model = LooseConfig

    assert any("must forbid unknown keys" in p for p in _problems(Loose))


def test_an_unreachable_api_is_reported_as_what_it_is() -> None:
    with ReplayServer(numbers_api) as api:
        url = api.url
    with pytest.raises(SourceConformanceError, match="raised SourceUnavailable: "):
        check_source(NumbersSource, {"base_url": url, "token": TOKEN}, wrong_secrets=False)
    assert issubclass(SourceUnavailable, sdk.TransientError)
