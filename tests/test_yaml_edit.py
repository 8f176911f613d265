"""In-place edits of connection files: only the intended lines change, comments stay, bad edits never land."""

from __future__ import annotations

import difflib
import textwrap
from pathlib import Path

import pytest

from pipelines.ops.yaml_edit import (
    KEY_ORDER,
    guess_indent,
    insert_key,
    load_document,
    parse_document,
    remove_key,
    render_document,
    save_document,
    set_property_status,
)
from protocol.errors import ConnectionFileError
from tests.conftest import WorkspaceFactory, connection

ROOT = Path(__file__).resolve().parents[1]

ACME = """\
# Acme: ten communities, managed since 2021.
name: acme
source:
  connector: sandbox
  config: { api_key: "${SANDBOX_TEST_KEY}", scale: 10 }   # in-process sandbox
destination: { connector: duckdb, config: { path: wh.duckdb } }

# 2, 5 and 9 are sold and must not be synced.
properties:
  include: [1, 3, 4, 6, 7, 8, 10]   # signed-off by the customer
  exclude:
    - 2    # sold 2020
    # sold in 2023
    - 5
    - 9
  new_properties: pending
# Leases only, for now.
streams:
  - name: leases
    sync_mode: incremental_deduped   # keep the latest version
# end of file
"""


def _changed(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines only in `before`, lines only in `after`)."""
    gone, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            gone.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return gone, added


@pytest.mark.parametrize("path", sorted((ROOT / "connections").glob("*.yaml")), ids=lambda p: p.name)
def test_an_unedited_file_renders_byte_for_byte(path: Path) -> None:
    text = path.read_text()
    assert render_document(load_document(path), [text]) == text


def test_indentation_of_the_file_is_kept() -> None:
    text = textwrap.dedent("""\
        name: four   # four-space mappings, dashes at the margin
        source:
            connector: sandbox
            config:
                api_key: "${K}"
        streams:
        - name: leases
          sync_mode: incremental_deduped
        """)
    assert guess_indent(text) == (4, 2, 0)
    doc = parse_document(text)
    insert_key(doc, "namespace", "acme", KEY_ORDER)
    out = render_document(doc, [text])
    assert _changed(text, out) == ([], ["namespace: acme"])


def test_enable_and_disable_keep_every_other_comment(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(ACME, name="acme")
    path = root / "connections" / "acme.yaml"

    set_property_status(path, ["5", "12", "5"], "enabled")
    text = path.read_text()
    gone, added = _changed(ACME, text)
    assert gone == ["  include: [1, 3, 4, 6, 7, 8, 10]   # signed-off by the customer", "    # sold in 2023", "    - 5"]
    assert added == ["  include: [1, 3, 4, 5, 6, 7, 8, 10, 12] # signed-off by the customer"]
    selection = connection(root, "acme").config.properties
    assert selection is not None
    assert selection.include == ["1", "3", "4", "5", "6", "7", "8", "10", "12"] and selection.exclude == ["2", "9"]

    set_property_status(path, ["12", "1", "7"], "disabled")
    selection = connection(root, "acme").config.properties
    assert selection is not None
    assert selection.exclude == ["1", "2", "7", "9", "12"]  # numeric order, not "1", "12", "2"
    assert selection.include == ["3", "4", "5", "6", "8", "10"]
    text = path.read_text()
    for comment in ("# Acme: ten communities", "# in-process sandbox", "# 2, 5 and 9 are sold", "# sold 2020",
                    "# signed-off by the customer", "# Leases only, for now.", "# keep the latest version",
                    "# end of file"):
        assert comment in text
    assert "    - 12\n" in text and "'12'" not in text and '"12"' not in text  # numbers stay numbers


def test_a_missing_properties_block_is_created_before_streams(make_workspace: WorkspaceFactory) -> None:
    text = ACME.split("\n# 2, 5 and 9")[0] + "\n# Leases only, for now.\n" + ACME.split("# Leases only, for now.\n")[1]
    root = make_workspace(text, name="acme")
    path = root / "connections" / "acme.yaml"
    set_property_status(path, ["B-7", "a1", "007"], "disabled")
    gone, added = _changed(text, path.read_text())
    assert gone == []
    assert added == ["properties:", "  exclude:", "    - '007'", "    - B-7", "    - a1"]
    after = path.read_text()
    assert after.index("properties:") < after.index("# Leases only, for now.\nstreams:")
    selection = connection(root, "acme").config.properties
    assert selection is not None and selection.exclude == ["007", "B-7", "a1"] and selection.new_properties == "enabled"


def test_a_bad_edit_is_refused_and_the_file_is_untouched(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(ACME, name="acme")
    path = root / "connections" / "acme.yaml"
    doc = load_document(path)
    doc["properties"]["new_properties"] = "sometimes"
    with pytest.raises(ConnectionFileError) as caught:
        save_document(path, doc)
    assert caught.value.file == "connections/acme.yaml" and caught.value.line == 16
    assert "new_properties" in str(caught.value) and "not written" in str(caught.value)
    assert path.read_text() == ACME
    assert sorted(p.name for p in (root / "connections").iterdir()) == ["acme.yaml"]  # no temp file left


def test_a_file_that_does_not_load_is_not_edited(make_workspace: WorkspaceFactory) -> None:
    broken = ACME.replace("${SANDBOX_TEST_KEY}", "${NOT_SET_ANYWHERE}")
    root = make_workspace(broken, name="acme")
    path = root / "connections" / "acme.yaml"
    with pytest.raises(ConnectionFileError, match="NOT_SET_ANYWHERE"):
        set_property_status(path, ["3"], "disabled")
    assert path.read_text() == broken


def test_keys_move_with_their_comments() -> None:
    text = textwrap.dedent("""\
        # header
        name: a
        # about the schedule
        schedule: manual   # for now
        # about retries
        retries:
          attempts: 3   # three
        # about streams
        streams:
          - name: leases
        # trailing
        """)
    doc = parse_document(text)
    remove_key(doc, "retries")
    insert_key(doc, "max_concurrency", 2, KEY_ORDER)
    out = render_document(doc, [text])
    assert out == textwrap.dedent("""\
        # header
        name: a
        # about the schedule
        schedule: manual   # for now
        max_concurrency: 2
        # about streams
        streams:
          - name: leases
        # trailing
        """)


def test_only_the_list_that_changes_is_added(make_workspace: WorkspaceFactory) -> None:
    text = ACME.replace("  include: [1, 3, 4, 6, 7, 8, 10]   # signed-off by the customer\n", "")
    root = make_workspace(text, name="acme")
    path = root / "connections" / "acme.yaml"
    set_property_status(path, [], "enabled")
    assert path.read_text() == text  # nothing asked, nothing written
    set_property_status(path, ["4"], "disabled")
    assert _changed(text, path.read_text()) == ([], ["    - 4"])
    set_property_status(path, ["9"], "enabled")
    gone, added = _changed(text, path.read_text())
    assert gone == ["    - 9"] and added == ["  include:", "    - 9", "    - 4"]
    assert path.read_text().index("  include:") < path.read_text().index("  exclude:")
