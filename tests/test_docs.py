"""docs/connection-yaml.md must document every key the connection file accepts, in its own section,
so the reference cannot fall behind the models or lose a section unnoticed.

What is required comes from the models' JSON Schema (what `rooftop schema` publishes), walked
recursively: every key of every block (enum_maps' `to`/`values`/`default`, each schedule form,
`retries`, `properties`, `notify[]`, `retention`, `streams[]`…) is named in its block's section;
every choice of a key (sync modes, `schema_changes`, `backoff`…) is named on the key's line; every
key that takes a duration links to the Durations section. A top-level key whose value is a block has
a `##` section of its own. The prose sections are tied to the code they describe where it has
numbers or names (file limits, variables, meta columns, `_rooftop` tables), and every in-page link
must land on a heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from destinations.postgres.destination import MAX_IDENTIFIER_BYTES
from pipelines.config.models import WEEKDAYS, ConnectionConfig
from pipelines.config.yaml_reader import LITERAL_VARS, MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from protocol.bookkeeping import META_TABLES, PRUNABLE
from protocol.durations import Duration
from protocol.types import META_COLUMNS

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "connection-yaml.md"
TOP_LEVEL = "Top level"
# Blocks small enough to be described in their row of the top-level table, `{connector, config}`
# style; every other top-level block needs a section of its own.
INLINE_BLOCKS = frozenset({"source", "destination", "rate_limit"})

SCHEMA = ConnectionConfig.model_json_schema()
DURATION = TypeAdapter(Duration).json_schema()


def sections(doc: str) -> dict[str, str]:
    """`##` heading → the text under it, up to the next `##` heading."""
    parts = re.split(r"^## (.+)$", doc, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


@dataclass(frozen=True)
class Key:
    """One key of the connection file, where the reference must describe it."""

    path: str              # e.g. streams[].enum_maps.*.to
    name: str
    section: str           # the `##` heading it belongs under
    in_table: bool         # a row of that section's key table (else named inline, e.g. `{to, values}`)
    choices: tuple[str, ...]
    duration: bool


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return SCHEMA["$defs"][ref.rsplit("/", 1)[1]] if ref else schema


def _alternatives(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    schema = _resolve(schema)
    variants = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if variants:
        for variant in variants:
            yield from _alternatives(variant)
    else:
        yield schema


def _blocks(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects with named keys a value may be: (path suffix, object schema)."""
    for alt in _alternatives(schema):
        if "properties" in alt:
            yield "", alt
        elif alt.get("type") == "array" and "items" in alt:
            yield from ((f"[]{suffix}", block) for suffix, block in _blocks(alt["items"]))
        elif isinstance(alt.get("additionalProperties"), dict):
            yield from ((f".*{suffix}", block) for suffix, block in _blocks(alt["additionalProperties"]))


def _walk(block: dict[str, Any], prefix: str, section: str, in_table: bool) -> Iterator[Key]:
    for name, prop in block["properties"].items():
        path = f"{prefix}{name}"
        alts = list(_alternatives(prop))
        choices = tuple(str(v) for alt in alts for v in ([alt["const"]] if "const" in alt else alt.get("enum", [])))
        is_duration = any(alt == _resolve(d) for alt in alts for d in DURATION.get("anyOf", [DURATION]))
        yield Key(path, name, section, in_table, choices, is_duration)
        for suffix, child in _blocks(prop):
            if section == TOP_LEVEL and name not in INLINE_BLOCKS:
                # A top-level block has its own section, whose table lists its keys (a union of forms,
                # like `schedule`, is a table of forms naming the keys inline).
                # A union of forms (`schedule`: one form or a list of them) is one section.
                own = f"`{name}{'[]' if suffix.startswith('[]') and 'oneOf' not in prop else ''}`"
                yield from _walk(child, f"{path}{suffix}.", own, in_table="oneOf" not in prop)
            else:
                yield from _walk(child, f"{path}{suffix}.", section, in_table=False)


KEYS = list(dict.fromkeys(_walk(SCHEMA, "", TOP_LEVEL, in_table=True)))  # schedule forms share `timezone`


def _lines_naming(key: Key, text: str) -> list[str]:
    """The lines of `text` that describe `key`: its table row, or lines naming it inline."""
    name = re.escape(key.name)
    if key.in_table:
        row = re.compile(rf"^\|[^|]*`{name}`[^|]*\|")
        return [line for line in text.splitlines() if row.match(line)]
    inline = re.compile(rf"`{name}`|[{{,]\s*{name}\s*[,:}}]|(^|\s){name}:")
    found = [line for line in text.splitlines() if inline.search(line)]
    if not found and key.name in WEEKDAYS:
        # Weekday keys are described once ("per weekday") with one of them as the example.
        found = [line for line in text.splitlines() if "weekday" in line and any(f"{d}:" in line for d in WEEKDAYS)]
    return found


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    return sections(DOC_PATH.read_text())


def test_the_walk_reaches_every_block() -> None:
    """Guards the test itself: nested blocks and their keys are found, not silently skipped."""
    paths = {k.path for k in KEYS}
    assert {"streams[].enum_maps.*.to", "streams[].enum_maps.*.values", "streams[].enum_maps.*.default",
            "schedule.week.MONDAY[].every", "schedule.cron", "notify[].timeout_seconds", "retention.diffs",
            "properties.new_properties", "retries.backoff", "rate_limit.per", "source.connector"} <= paths
    assert {k.section for k in KEYS} == {TOP_LEVEL, "`properties`", "`notify[]`", "`retention`", "`schedule`",
                                         "`retries`", "`streams[]`", "`writes[]`"}
    by_path = {k.path: k for k in KEYS}
    assert by_path["retries.delay"].duration and not by_path["retries.attempts"].duration
    assert set(by_path["streams[].sync_mode"].choices) == {"full_refresh_overwrite", "full_refresh_append",
                                                          "incremental_append", "incremental_deduped"}


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.path)
def test_every_key_is_documented_in_its_section(key: Key, doc: dict[str, str]) -> None:
    assert key.section in doc, f"docs/connection-yaml.md has no section '## {key.section}' (for {key.path})"
    lines = _lines_naming(key, doc[key.section])
    where = "a row of its table" if key.in_table else "its section"
    assert lines, f"{key.path}: not named in {where} '## {key.section}'"
    missing = [c for c in key.choices if not any(f"`{c}`" in line for line in lines)]
    assert missing == [], f"{key.path}: choices not named where the key is described: {missing}"
    if key.duration:
        assert any("(#durations)" in line for line in lines), f"{key.path}: takes a duration; link #durations"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_every_in_page_link_lands_on_a_heading(doc: dict[str, str]) -> None:
    text = DOC_PATH.read_text()
    anchors = {_slug(title) for title in doc}
    assert "durations" in anchors
    assert sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors) == []


def test_the_file_rules_name_the_readers_limits(doc: dict[str, str]) -> None:
    text = doc["What a file may contain, and what a broken file does"]
    assert f"{MAX_FILE_BYTES // 1024} KiB" in text
    assert f"{MAX_NODES:,} values" in text
    assert f"{MAX_DEPTH} levels" in text
    for command in ("rooftop validate", "rooftop sync --all", "rooftop status", "Dagster"):
        assert f"| `{command}`" in text or f"| {command} |" in text, command


def test_variables_section_names_both_forms_and_rooftops_own(doc: dict[str, str]) -> None:
    text = doc["Variables"]
    assert "`${VAR}`" in text and "`${VAR:-default}`" in text and ".env" in text
    assert all(f"${{{name}}}" in text for name in LITERAL_VARS)


def test_the_checks_before_writing_name_the_identifier_limit(doc: dict[str, str]) -> None:
    text = doc["Checks before anything is written"]
    assert f"at most {MAX_IDENTIFIER_BYTES} bytes" in text
    assert "Two connections landing one table" in text and "without a cursor" in text


def test_unstorable_values_are_described(doc: dict[str, str]) -> None:
    text = doc["Values the warehouse cannot store"]
    assert "_rooftop_meta" in text and "U+0000" in text and "1–9999" in text


def test_what_lands_names_every_meta_column_and_rooftop_table(doc: dict[str, str]) -> None:
    text = doc["What lands in the warehouse"]
    assert all(re.search(rf"^\| `{column}` \|", text, re.MULTILINE) for column in META_COLUMNS), META_COLUMNS
    for table in {*META_TABLES, *PRUNABLE, "state"}:
        assert f"`{table}`" in text or f"`_rooftop.{table}`" in text, table
