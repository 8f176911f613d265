"""Connection files read by libyaml's fast path mean exactly what ruamel.yaml (YAML 1.2) says they mean.

`pipelines.config.yaml_fast` builds values and line numbers from libyaml's events; ruamel.yaml is
the reference the rest of the code was written against. Each document here is compared with
ruamel's own round-trip load: same values, same Python types, same line for every key and item.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from pipelines.config.yaml_fast import read_events
from pipelines.config.yaml_reader import MAX_DEPTH, MAX_NODES, parse_yaml
from protocol.errors import ConnectionFileError

DOCUMENTS = {
    "scalars": """\
name: acme
a_bool: yes
b_bool: true
hex: 0x1F
octal: 0o17
leading_zero: 017
underscored: 1_000
float: 1.5e3
inf: .inf
day: 2024-01-01
moment: 2024-01-01T10:00:00Z
nothing:
tilde: ~
quoted_int: '5'
sexagesimal: 1:30
literal: |
  line one
  line two
folded: >
  folded
  text
""",
    "nesting": """\
name: acme   # a comment
streams:
  - name: leases
    fields: [id, status]
    enum_maps: { status: { to: s, values: { Current: ACTIVE } } }
  -
    name: units
    primary_key:
      - id
2: numeric key
true: bool key
""",
    "flow": "{name: acme, streams: [{name: a}, {name: b, fields: [x, y]}]}\n",
}


def _ruamel(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key in node:
            lines[(*path, str(key))] = node.lc.key(key)[0] + 1
            out[key] = _ruamel(node[key], (*path, str(key)), lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            lines[(*path, index)] = node.lc.item(index)[0] + 1
            items.append(_ruamel(item, (*path, index), lines))
        return items
    return str(node) if isinstance(node, str) else node


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_fast_path_reads_what_ruamel_reads(name: str) -> None:
    text = DOCUMENTS[name]
    lines: dict[tuple[Any, ...], int] = {}
    expected = _ruamel(YAML(typ="rt").load(text), (), lines)
    fast = read_events(text, MAX_NODES, MAX_DEPTH)
    assert fast is not None, "a plain file takes the fast path"
    value, fast_lines = fast
    assert value == expected
    assert {k: type(v) for k, v in value.items()} == {k: type(v) for k, v in expected.items()}
    assert fast_lines == lines
    assert parse_yaml(text, "f.yaml", {}).data == expected


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: !!str 5\n", "%YAML 1.1\n---\na: yes\n", "a: 1\n---\nb: 2\n", "a: 1\na: 2\n",
    "? [a]\n: 1\n", "a: [1, 2\n", "<<: {a: 1}\n",
    "a: <<\n", "a: =\n", "a: 2024-02-30\n",
])
def test_anything_unusual_is_left_to_the_thorough_reader(text: str) -> None:
    assert read_events(text, MAX_NODES, MAX_DEPTH) is None


# Plain scalars the fast path types itself (yaml_fast.plain_scalar) and their neighbours, which it must
# leave to ruamel: every one must come out as ruamel's round-trip load builds it, value and type.
SCALARS = [
    "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "yes", "no", "on", "off", "y", "n", "Y", "N",
    "null", "Null", "NULL", "nULL", "~", "~x", "nothing", "t", "f", "truex",
    "0", "-0", "+0", "1", "-1", "+1", "12", "-250", "007", "0o17", "0x1F", "0b101", "1_000", "_5", "1e3", "1.5",
    ".5", "-.inf", ".nan", "12abc", "1-2", "99999999999999999999999", "١٢", "Ⅻ",
    "2024-01-01", "2024-1-1", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00", "20240101", "2024-01-01x",
    "http://127.0.0.1:8765/v1", "${API_KEY}", "${N:-5}", "acme", "-x", "- x", ".x", "<x", "=x", "-",
    ".", "+", "12:30", "1:30", "$5", "é", "work_orders", "full_refresh_overwrite", "America/Chicago",
    "30s", "15 minutes", "2h", "1 day", "0s", "007s", "0xface", "0XFF", "0b1", "0bad", "0o7", "0ops", "1e", "1E5",
    "5e3x", "1 e", "15  minutes", "1_0s", "-5s", "+5s", "10.5s",
]


def _typed(value: Any) -> Any:
    """`value` with the type of every scalar in it, to compare types as well as values."""
    if isinstance(value, dict):
        return {(type(k), k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return type(value), value


@pytest.mark.parametrize("scalar", [*SCALARS, "2024-02-30", "2023-13-01"])
def test_each_plain_scalar_is_typed_as_ruamel_types_it(scalar: str) -> None:
    for form in ("k: {}\n", "k: [{}]\n", "{}: v\n", "k:\n  - {}\n"):
        text = form.format(scalar)
        try:
            expected = _typed(_ruamel(YAML(typ="rt").load(text), (), {}))
        except (YAMLError, ValueError) as exc:  # not valid in this position, or ruamel's own error (2024-02-30)
            with pytest.raises((type(exc), ConnectionFileError)):  # ruamel's YAML errors, with file and line
                parse_yaml(text, "f.yaml", {})
            continue
        fast = read_events(text, MAX_NODES, MAX_DEPTH)
        assert fast is not None, text
        assert _typed(fast[0]) == expected, text


PLAIN_FILE = """\
name: acme
source:
  connector: sandbox
  config: {base_url: "http://127.0.0.1:8765", api_key: "${SANDBOX_KEY:-k}", page_size: 1000, seed: -3}
destination: {connector: duckdb, config: {path: warehouse.duckdb}}
active: true
lookback: ~
retries: {attempts: 3, delay: 30s}
schedule: {every: 15 minutes}
streams:
  - {name: leases, start_date: 2024-01-01, primary_key: [id], enum_maps: {status: {values: {Current: ACTIVE}}}}
"""


def test_a_plain_connection_file_is_read_without_importing_ruamel() -> None:
    """ruamel.yaml costs ~12 ms of imports; the file above is read by libyaml and typed without it."""
    probe = ("import json, sys\nfrom pipelines.config.yaml_reader import parse_yaml\n"
             "doc = parse_yaml(sys.stdin.read(), 'acme.yaml', {})\n"
             "print(json.dumps([doc.data['streams'][0]['start_date'].isoformat(), "
             "sorted(m for m in sys.modules if m.startswith('ruamel'))]))")
    done = subprocess.run([sys.executable, "-c", probe], input=PLAIN_FILE, capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == ["2024-01-01", []]
    assert parse_yaml(PLAIN_FILE, "acme.yaml", {}).data == _ruamel(YAML(typ="rt").load(PLAIN_FILE), (), {}) | {
        "source": {"connector": "sandbox", "config": {"base_url": "http://127.0.0.1:8765", "api_key": "k",
                                                      "page_size": 1000, "seed": -3}}}
