"""Connection models and YAML loading that need no source: defaults, interpolation, schema."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config.models import ConnectionConfig
from pipelines.config.yaml_reader import parse_yaml
from protocol.errors import ConnectionFileError


def test_defaults_are_documented_values() -> None:
    cfg = ConnectionConfig.model_validate({"name": "x", "source": {"connector": "sandbox"}})
    assert cfg.destination.connector == "duckdb"
    assert cfg.namespace == "source" and cfg.prefix == "" and cfg.schedule == "manual"
    assert (cfg.retries.attempts, cfg.retries.delay_seconds, cfg.retries.backoff) == (3, 30.0, "exponential")
    assert cfg.max_concurrency == 4 and cfg.schema_changes == "propagate" and cfg.streams is None


def test_interpolation_env_default_and_literal_namespace() -> None:
    doc = parse_yaml('a: "${X}-${Y:-dflt}"\nnamespace: "raw_${SOURCE_NAMESPACE}"\n', "f.yaml", {"X": "one"})
    assert doc.data == {"a": "one-dflt", "namespace": "raw_${SOURCE_NAMESPACE}"}
    assert doc.interpolated == {("a",): "X, Y"}


def test_unset_variable_names_file_line_and_field() -> None:
    with pytest.raises(ConnectionFileError) as info:
        parse_yaml("source:\n  config:\n    token: ${NOPE}\n", "conn.yaml", {})
    assert str(info.value).startswith("conn.yaml:3: source.config.token: ${NOPE} is not set")


def test_week_schedule_and_schedule_kinds() -> None:
    cfg = ConnectionConfig.model_validate({
        "name": "x", "source": {"connector": "s"},
        "schedule": {"week": {"timezone": "America/Chicago",
                              "MONDAY": [{"start": "09:00", "end": "17:00", "every": "15 minutes"}]}}})
    assert cfg.schedule.week.MONDAY[0].every == 900.0  # type: ignore[union-attr]  # seconds


def test_schema_command_prints_json_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["additionalProperties"] is False
    assert {"name", "source", "destination", "streams", "schedule"} <= set(schema["properties"])


def test_not_a_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path), "validate"])
    assert result.exit_code == 2
    assert "is not a Rooftop workspace" in result.output


@pytest.mark.parametrize(("key", "reason"), [("active: false", "is paused"),
                                             ("allow_manual_syncs: false", "manual syncs of 'paused' are disabled")])
def test_paused_or_schedule_only_connections_refuse_manual_syncs(tmp_path: Path, key: str, reason: str) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "paused.yaml").write_text(
        f"name: paused\nsource: {{connector: sandbox, config: {{api_key: k-1234}}}}\n{key}\n")
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path), "sync", "paused"])
    assert result.exit_code == 2
    assert "connections/paused.yaml:3:" in result.output and reason in result.output
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(("text", "expected"), [
    ("a: !!str 5\nb: !!int '7'\nc: !!bool true\nd: !!null ''\ne: !!seq [1]\nf: !!map {g: 1.5}\nh: ! x\n",
     {"a": "5", "b": 7, "c": True, "d": None, "e": [1], "f": {"g": 1.5}, "h": "x"}),
    ("\ufeffa: \"tab\there\"\nb: 2024-01-31\n", {"a": "tab\there", "b": date(2024, 1, 31)}),
])
def test_core_tags_a_bom_and_tabs_are_plain_yaml(text: str, expected: dict[str, object]) -> None:
    assert parse_yaml(text, "f.yaml", {}).data == expected


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("a: 1\nb: !!binary aGk=\n", 2, "YAML tag !!binary is not supported"),
    ("a: 1\nb: !!set {x}\n", 2, "YAML tag !!set is not supported"),
    ("a: 1\nb: !!python/name:os.system x\n", 2, "YAML tag !!python/name:os.system is not supported"),
    ("a: &x 1\nb: *x\n", 1, "anchors and aliases are not supported in connection files"),
    ("a: 1\nb: [" + ", ".join(["1"] * 20_001) + "]\n", 2, "more than 20,000 values"),
    ("a: 1\nb: \x85\n", 2, "control character U+0085 at column 4"),
    ("a: [1, 2]\n? [k]\n: v\n", 2, "a key must be a plain string"),
    ("a: 1\n---\nb: 2\n", 2, "invalid YAML"),
])
def test_hostile_yaml_is_refused_with_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConnectionFileError) as info:
        parse_yaml(text, "conn.yaml", {})
    assert str(info.value).startswith(f"conn.yaml:{line}: ") and fragment in str(info.value), str(info.value)


def test_a_nul_from_the_environment_names_the_variable_not_the_value() -> None:
    with pytest.raises(ConnectionFileError) as info:
        parse_yaml("source:\n  config:\n    token: ${TOKEN}\n", "conn.yaml", {"TOKEN": "s3cr3t\0"})
    assert str(info.value) == ("conn.yaml:3: source.config.token: contains a NUL character (from ${TOKEN}); "
                               "no system accepts it in a setting")


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "connections").mkdir()
    (tmp_path / "connections" / "huge.yaml").write_text("# " + "x" * 600_000 + "\nname: huge\n")
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path), "validate", "--offline"])
    assert result.exit_code == 2
    assert "connections/huge.yaml: the file is 600,014 bytes; connection files are limited to 524,288" in result.output
