"""Connection files read by libyaml's fast path mean exactly what ruamel.yaml (YAML 1.2) says they mean.

`pipelines.config.yaml_fast` builds values and line numbers from libyaml's events; ruamel.yaml is
the reference the rest of the code was written against. Each document here is compared with
ruamel's own round-trip load: same values, same Python types, same line for every key and item.
"""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipelines.config.yaml_fast import read_events
from pipelines.config.yaml_reader import MAX_DEPTH, MAX_NODES, parse_yaml

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
])
def test_anything_unusual_is_left_to_the_thorough_reader(text: str) -> None:
    assert read_events(text, MAX_NODES, MAX_DEPTH) is None
