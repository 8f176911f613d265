"""One duration grammar everywhere: the table of what it accepts, the same answer from a connection
file and from a `rest_api` config, the JSON Schema that publishes it, and a located error in a file."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.http.retry import RetryConfig
from connectors.rest_api import RestApiConfig
from connectors.rest_api.config import IncrementalConfig
from pipelines.cli import app
from pipelines.config.models import ConnectionConfig, IntervalSchedule
from pipelines.config.schedules import compile_schedule
from protocol.durations import UNIT_SECONDS, format_duration, parse_duration

DOCS = Path(__file__).resolve().parents[1] / "docs"

# (written, seconds). The first groups are the two grammars that used to disagree: every one of these
# was valid in at least one of them and must stay valid in both places.
VALID: list[tuple[str | float, float]] = [
    # Accepted by both before.
    ("30s", 30), ("15 minutes", 900), ("2h", 7200), ("1 day", 86400), ("1 hour", 3600), ("7 sec", 7),
    ("3 days", 259200), ("10m", 600), ("0 days", 0),
    # Only the rest_api grammar: a unitless string is seconds, decimals, plural abbreviations, padding.
    ("90", 90), ("1.5 hours", 5400), ("10 secs", 10), ("5 mins", 300), ("2.5d", 216000), ("  30s  ", 30),
    # Only the connection grammar: milliseconds.
    ("500ms", 0.5), ("250 ms", 0.25),
    # New spelling of an old unit.
    ("100 milliseconds", 0.1),
    # Numbers are seconds.
    (90, 90), (1.5, 1.5), (0, 0),
]
INVALID: list[str | float | bool] = [
    "", "  ", "a month", "2 weeks", "1h 30m", "1h30m", "-5s", "5 parsecs", "1,5 hours", "1e3", "30 S", ".5s",
    "five minutes", "30 seconds ago", "ms", -1, -0.5, float("nan"), float("inf"), True,
]


@pytest.mark.parametrize(("written", "seconds"), VALID, ids=repr)
def test_valid_durations(written: str | float, seconds: float) -> None:
    assert parse_duration(written) == pytest.approx(seconds)


@pytest.mark.parametrize("written", INVALID, ids=repr)
def test_invalid_durations_say_how_to_write_one(written: Any) -> None:
    with pytest.raises(ValueError, match="not a duration|cannot be negative") as caught:
        parse_duration(written)
    if isinstance(written, str):
        assert "e.g. 90, 500ms, 30s, 15 minutes" in str(caught.value) or "one number and one unit" in str(caught.value)


@pytest.mark.parametrize(("written", "hint"), [("1h 30m", "write '90 minutes'"), ("1d 2h", "write '26 hours'"),
                                               ("1m 30s", "write '90 seconds'")])
def test_compound_forms_are_refused_with_the_single_unit_to_write(written: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        parse_duration(written)


def _connection_lookback(written: Any) -> float | None:
    return ConnectionConfig.model_validate({"name": "x", "source": {"connector": "s"}, "lookback": written}).lookback


def _rest_api_lookback(written: Any) -> float | None:
    config = RestApiConfig.model_validate({"base_url": "http://127.0.0.1:9", "streams": [
        {"name": "s", "path": "/s", "incremental": {"cursor_field": "at", "lookback": written}}]})
    incremental = config.streams[0].incremental
    assert incremental is not None
    return incremental.lookback


def _outcome(validate: Any, written: Any) -> float | str:
    try:
        return float(validate(written))
    except ValidationError as error:
        return "rejected: " + str(error.errors()[0]["msg"])


@pytest.mark.parametrize("written", [w for w, _ in VALID] + INVALID, ids=repr)
def test_connection_file_and_rest_api_accept_exactly_the_same_durations(written: Any) -> None:
    in_connection, in_rest_api = _outcome(_connection_lookback, written), _outcome(_rest_api_lookback, written)
    assert in_connection == in_rest_api
    expected = dict((repr(w), s) for w, s in VALID).get(repr(written))
    if expected is None:
        assert str(in_connection).startswith("rejected: ")
    else:
        assert in_connection == pytest.approx(expected)


def _schema_patterns() -> list[str]:
    """The duration pattern as each published JSON Schema states it (what editors check files against)."""
    schemas = [ConnectionConfig.model_json_schema()["$defs"]["Retries"]["properties"]["delay"],
               RestApiConfig.model_json_schema()["$defs"]["IncrementalConfig"]["properties"]["lookback"]["anyOf"][0],
               RetryConfig.model_json_schema()["properties"]["initial_delay"]]
    return [next(branch["pattern"] for branch in schema["anyOf"] if branch.get("type") == "string")
            for schema in schemas]


@pytest.mark.parametrize("written", [w for w, _ in VALID if isinstance(w, str)]
                         + [w for w in INVALID if isinstance(w, str)], ids=repr)
def test_the_json_schema_pattern_agrees_with_the_parser(written: str) -> None:
    try:
        parse_duration(written)
        valid = True
    except ValueError:
        valid = False
    for pattern in _schema_patterns():
        assert (re.search(pattern, written) is not None) == valid


def test_every_duration_key_takes_the_grammar() -> None:
    """Timeouts and delays named `..._seconds` or not: all take numbers (seconds) and the same text."""
    config = ConnectionConfig.model_validate({
        "name": "x", "source": {"connector": "s"}, "retries": {"delay": "500ms"}, "initial_window": "1.5 hours",
        "schedule": {"every": "15m"}, "retention": {"history": "2 days", "diffs": 0},
        "notify": {"url": "https://hooks.example.com/x", "timeout_seconds": "2s"},
        "streams": [{"name": "s", "lookback": "90"}]})
    assert (config.retries.delay, config.initial_window, config.retention.history, config.retention.diffs,
            config.notify[0].timeout_seconds) == (0.5, 5400, 172800, 0, 2)
    assert isinstance(config.schedule, IntervalSchedule) and config.schedule.every == 900
    assert config.streams is not None and config.streams[0].lookback == 90
    rest = RestApiConfig.model_validate({"base_url": "http://127.0.0.1:9", "timeout_seconds": "2 minutes",
                                         "request_deadline_seconds": "1.5m",
                                         "retries": {"initial_delay": "250ms", "max_delay": "1 min",
                                                     "max_retry_after": "1h"},
                                         "streams": [{"name": "s", "path": "/s"}]})
    assert (rest.timeout_seconds, rest.request_deadline_seconds) == (120, 90)
    assert (rest.retries.initial_delay, rest.retries.max_delay, rest.retries.max_retry_after) == (0.25, 60, 3600)


def test_bounds_still_apply_after_parsing() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 600"):
        RestApiConfig.model_validate({"base_url": "http://127.0.0.1:9", "timeout_seconds": "11 minutes",
                                      "streams": [{"name": "s", "path": "/s"}]})
    with pytest.raises(ValidationError, match="greater than 0"):
        ConnectionConfig.model_validate({"name": "x", "source": {"connector": "s"},
                                         "notify": {"url": "https://hooks.example.com/x", "timeout_seconds": "0s"}})


def test_number_cursor_lookback_is_a_plain_number() -> None:
    assert IncrementalConfig(cursor_field="c", cursor_type="number", lookback=50).lookback == 50
    with pytest.raises(ValidationError, match="with cursor_type number, lookback is a number"):
        IncrementalConfig.model_validate({"cursor_field": "c", "cursor_type": "number", "lookback": "2h"})


def test_schedule_is_described_in_words() -> None:
    compiled = compile_schedule(IntervalSchedule.model_validate({"every": "2h"}))
    assert compiled is not None and compiled.source == "every 2 hours"
    assert [format_duration(s) for s in (60, 900, 5400, 86400, 0.5, 90, 1.25)] == \
        ["1 minute", "15 minutes", "90 minutes", "1 day", "500 ms", "90 seconds", "1.25 seconds"]


BAD = """\
name: bad
source:
  connector: rest_api
  config:
    base_url: "http://127.0.0.1:9"
    retries: {attempts: 1}
    streams:
      - name: events
        path: /events
        incremental: {cursor_field: at, lookback: 1h 30m}
retries: {attempts: 2, delay: 1.5 hours}
"""


@pytest.mark.parametrize(("old", "new", "location", "message"), [
    ("lookback: 1h 30m", "lookback: 1h 30m", "connections/bad.yaml:10: source.config.streams[0].incremental.lookback:",
     "'1h 30m' is not a duration; one number and one unit only: write '90 minutes'"),
    ("lookback: 1h 30m", "lookback: 90 minutes", "", ""),
    ("delay: 1.5 hours", "delay: 1.5 fortnights", "connections/bad.yaml:11: retries.delay:",
     "'1.5 fortnights' is not a duration; write a number of seconds or one number and one unit"),
], ids=["compound-in-rest-api", "fixed", "unknown-unit-in-retries"])
def test_a_bad_duration_in_a_file_is_located(tmp_path: Path, old: str, new: str, location: str, message: str) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "bad.yaml").write_text(textwrap.dedent(BAD).replace(old, new))
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path), "validate"])
    output = " ".join(result.output.split())
    if not location:  # the same file with the duration fixed loads (then fails to reach the API, on no line)
        assert "not a duration" not in output and "bad.yaml:" not in output, result.output
        return
    assert result.exit_code == 2, result.output
    assert f"{location} {message}" in output, result.output


def test_the_grammar_is_documented_once_and_linked() -> None:
    reference = (DOCS / "connection-yaml.md").read_text()
    section = reference.split("\n## Durations\n", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{unit}`" in section for unit in UNIT_SECONDS), "every unit of the grammar is listed"
    assert reference.count("](#durations)") >= 8, "each key taking a duration points to the section"
    assert (DOCS / "rest_api.md").read_text().count("](connection-yaml.md#durations)") >= 4
