"""Edit connection files in place without losing what people wrote in them.

Connection files are reviewed in git and annotated by hand, so commands that change them
(`rooftop properties --enable`, `rooftop clone`) must produce a diff of only the lines they meant
to change: comments, key order, quoting and indentation stay. ruamel.yaml's round-trip mode keeps
comments but attaches each one to the end of the value *before* it, normalises whitespace inside
flow collections and forgets the file's indentation; this module works around all three:

- `entries` / `rebuild` see a mapping as (key, value, own comment, comments above the key), so keys
  can be moved, inserted, replaced or removed with their comments, never with their neighbour's;
- `render_document` guesses the file's indentation and puts back the original text of every line
  whose only difference is whitespace;
- `save_document` writes to a temporary file, validates it as a connection and only then renames
  it over the target, so a bad edit never leaves a broken file behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from io import StringIO
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from pipelines.config.models import ConnectionConfig
from pipelines.workspace.connection import LoadedConnection, load_connection
from pipelines.workspace.loading import CONNECTIONS_DIR, environment
from protocol.errors import ConnectionFileError

Container = CommentedMap | CommentedSeq
WIDTH = 4096  # ruamel must never re-wrap a long line (a flow list of ids, a URL)
DEFAULT_INDENT = (2, 4, 2)  # mapping, sequence, dash offset: the style of the docs and the demo
KEY_ORDER = tuple(ConnectionConfig.model_fields)
"""The model's key order: where `insert_key` puts a key that a file does not have yet."""


# -- loading and rendering ---------------------------------------------------------------------

def _yaml(indent: tuple[int, int, int] = DEFAULT_INDENT) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = WIDTH
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return yaml


def parse_document(text: str, file: str = "<connection>") -> CommentedMap:
    """The round-trip tree of a connection file's text; invalid YAML is a ConnectionFileError."""
    try:
        doc = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConnectionFileError(f"invalid YAML: {exc.problem or exc.context or 'invalid YAML'}", file=file,
                                  line=mark.line + 1 if mark is not None else None) from None
    if not isinstance(doc, CommentedMap):
        raise ConnectionFileError("a connection file must be a mapping of keys (name:, source:, …)", file=file)
    return doc


def read_text(path: Path) -> str:
    """The file's text with its own line endings (`Path.read_text` would turn CRLF into LF)."""
    return path.read_bytes().decode("utf-8")


def load_document(path: Path) -> CommentedMap:
    """The round-trip tree of the file at `path` (comments and key order included)."""
    return parse_document(read_text(path), str(path))


def render_document(doc: CommentedMap, like: Sequence[str] = ()) -> str:
    """`doc` as YAML text indented like `like[0]` (the file's original text).

    A line ruamel changed only in whitespace (`{ path: x }` printed as `{path: x}`) gets the text it
    has in a `like` file back, provided the result still means exactly what ruamel printed.
    """
    indent = guess_indent(like[0]) if like else DEFAULT_INDENT
    stream = StringIO()
    _yaml(indent).dump(doc, stream)
    dumped = stream.getvalue()
    references = []
    for text in like:
        pristine = StringIO()
        _yaml(indent).dump(parse_document(text), pristine)
        references.append((pristine.getvalue(), text))
    restored = _restore(dumped, references)
    if restored != dumped and plain(parse_document(restored)) != plain(parse_document(dumped)):
        restored = dumped  # a whitespace change that mattered (inside a quoted string): keep ruamel's text
    return restored.replace("\n", "\r\n") if like and "\r\n" in like[0] else restored


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) of a YAML text; the defaults where it does not say."""
    mapping = sequence = offset = None
    parent: int | None = None  # indentation of the last `key:` line that opens a block
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if parent is not None and stripped.startswith("- ") and offset is None and indent >= parent:
            offset = indent - parent  # a block list's dash may sit at its key's own indentation
            sequence = offset + 1 + len(stripped[1:]) - len(stripped[1:].lstrip(" "))
        elif parent is not None and indent > parent and mapping is None and not stripped.startswith("- "):
            mapping = indent - parent
        parent = indent if re.match(r"^[^\s#\-][^#]*:\s*(#.*)?$", stripped) else None
    mapping = mapping or DEFAULT_INDENT[0]
    if sequence is None or offset is None or sequence < offset + 2:
        sequence, offset = DEFAULT_INDENT[1], DEFAULT_INDENT[2]
    return mapping, sequence, offset


def _restore(dumped: str, references: Sequence[tuple[str, str]]) -> str:
    """Put back the original text of lines ruamel changed only in whitespace.

    `references`: (ruamel's text of an unedited file, the file's text), the edited file first. Its
    unedited lines are matched by position (only ever replaced by their own original); new lines
    (copied from another file) by content.
    """
    lines = dumped.splitlines()
    by_position: dict[int, str] = {}
    unchanged: set[int] = set()
    by_content: dict[str, str | None] = {}
    for index, (pristine, original) in enumerate(references):
        pristine_lines = pristine.splitlines()
        pairs = _whitespace_pairs(pristine_lines, original.splitlines())
        for i, line in pairs.items():
            known = by_content.setdefault(pristine_lines[i], line)
            if known != line:
                by_content[pristine_lines[i]] = None  # two originals for one line: leave it to ruamel
        if index == 0:
            matcher = SequenceMatcher(None, pristine_lines, lines, autojunk=False)
            for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
                if tag == "equal":
                    for k in range(i2 - i1):
                        unchanged.add(j1 + k)
                        if i1 + k in pairs:
                            by_position[j1 + k] = pairs[i1 + k]
    out = [by_position.get(j) or (None if j in unchanged else by_content.get(line)) or line
           for j, line in enumerate(lines)]
    return "\n".join(out) + "\n"


def _whitespace_pairs(dumped: list[str], original: list[str]) -> dict[int, str]:
    """Index in `dumped` → the line of `original` it stands for, where the two differ only in whitespace."""
    pairs: dict[int, str] = {}
    matcher = SequenceMatcher(None, dumped, original, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue
        i, j = i1, j1
        while i < i2 and j < j2:
            if "".join(dumped[i].split()) == "".join(original[j].split()):
                pairs[i] = original[j]
                i += 1
            j += 1
    return pairs


def plain(node: Any) -> Any:
    """A round-trip value as plain dicts, lists and scalars (for comparisons)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    return [plain(v) for v in node] if isinstance(node, list) else node


# -- writing -----------------------------------------------------------------------------------

def save_document(path: Path, doc: CommentedMap, *, like: Sequence[str] = (), root: Path | None = None,
                  env: Mapping[str, str] | None = None) -> LoadedConnection:
    """Write `doc` to `path` atomically, after checking it loads as a connection.

    The current text of `path` (if any), then `like`, are the formatting references of
    `render_document`. `root` defaults to the workspace holding `path`, `env` to that workspace's
    environment (add values for `${VAR}`s the user has yet to fill). A file that does not load
    raises its ConnectionFileError, located in `path`, and nothing is written.
    """
    if root is None:  # the workspace holding connections/
        root = path.resolve().parent.parent if path.resolve().parent.name == CONNECTIONS_DIR else path.parent
    root = root.resolve()
    references = [read_text(path)] if path.is_file() else []
    text = render_document(doc, [*references, *like])
    return write_validated(path, text, root, environment(root) if env is None else env)


def write_validated(path: Path, text: str, root: Path, env: Mapping[str, str]) -> LoadedConnection:
    """Write `text` to `path` only if it loads as a connection; return the loaded connection."""
    # Not *.yaml: a workspace being loaded meanwhile (Dagster, another command) never sees the temp file.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        try:
            loaded = load_connection(temp, root, env)
        except ConnectionFileError as exc:
            raise ConnectionFileError(f"{exc.detail} (the edit was not written)", file=_display(path, root),
                                      line=exc.line, field=exc.field) from None
        # mkstemp's 0600 would hide a new connection from the rest of the team.
        os.chmod(temp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    loaded.file = _display(path, root)
    return loaded


def _display(path: Path, root: Path) -> str:
    return str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)


# -- comment-aware structure edits -------------------------------------------------------------

@dataclass
class Entry:
    """One key of a mapping (or item of a list) with the comments that belong to it."""

    key: Any
    value: Any
    comment: list[Any] | None
    """ruamel's comment slots of the key: its end-of-line comment (block value: + lines above its first line)."""
    lead: str = ""
    """The comment and blank lines above the key ('' = none)."""


def _is_block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def _keys(container: Container) -> list[Any]:
    return list(container) if isinstance(container, CommentedMap) else list(range(len(container)))


def _tail(container: Container, key: Any) -> tuple[Container, Any, int]:
    """Where ruamel keeps the comments that follow the value at `key`: its deepest last line."""
    slot = 2 if isinstance(container, CommentedMap) else 0
    value = container[key]
    if _is_block(value):
        return _tail(value, _keys(value)[-1])
    return container, key, slot


def _split(token: CommentToken | None) -> tuple[str, str]:
    """A trailing comment token → (the rest of its own line, the lines after it)."""
    value: str = token.value if token is not None else "\n"
    end = value.find("\n")
    return (value, "") if end < 0 else (value[:end + 1], value[end + 1:])


def comments_after(container: Container, key: Any) -> str:
    """The comment/blank lines between the value at `key` and whatever follows it."""
    owner, owner_key, slot = _tail(container, key)
    slots = owner.ca.items.get(owner_key)
    return _split(slots[slot] if slots else None)[1]


def set_comments_after(container: Container, key: Any, lines: str) -> None:
    owner, owner_key, slot = _tail(container, key)
    slots = owner.ca.items.setdefault(owner_key, [None, None, None, None])
    token = slots[slot]
    head = _split(token)[0]
    if head == "\n" and not lines:
        slots[slot] = None
    else:
        slots[slot] = CommentToken(head + lines, CommentMark(token.column if token is not None else 0))
    if not any(slots):
        del owner.ca.items[owner_key]


def entries(container: Container) -> tuple[list[Entry], str]:
    """Split a mapping or list into entries that own their comments, plus the trailing comment lines.

    The container's own trailing lines are taken off its values; `rebuild` puts them back.
    The comments above the first entry stay where they are (the file header, or the parent key's).
    """
    keys = _keys(container)
    if not keys:
        return [], ""
    leads = ["", *(comments_after(container, k) for k in keys[:-1])]
    trailer = comments_after(container, keys[-1])
    for key in keys:
        set_comments_after(container, key, "")
    found = [Entry(key, container[key], container.ca.items.get(key), lead)
             for key, lead in zip(keys, leads, strict=True)]
    return found, trailer


def rebuild(container: Container, items: Sequence[Entry], trailer: str,
            owner: tuple[Container, Any] | None = None) -> None:
    """Refill `container` with `items` in order, each with its comments; `owner` = (parent, key) of it."""
    for key in reversed(_keys(container)):
        del container[key]
    container.ca.items.clear()
    for index, item in enumerate(items):
        if isinstance(container, CommentedMap):
            container[item.key] = item.value
        else:
            container.append(item.value)
        if item.comment:
            container.ca.items[item.key if isinstance(container, CommentedMap) else index] = item.comment
    keys = _keys(container)
    for index, key in enumerate(keys):
        set_comments_after(container, key, items[index + 1].lead if index + 1 < len(items) else trailer)
    if not keys and owner is not None:
        set_comments_after(owner[0], owner[1], trailer)


def insert_key(mapping: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Set `key`; a new key goes after the nearest key that precedes it in `order`, else first."""
    if key in mapping:
        replace_value(mapping, key, value)
        return
    items, trailer = entries(mapping)
    rank = {name: i for i, name in enumerate(order)}
    mine = rank.get(key, len(order))
    position = 0
    for index, item in enumerate(items):
        if rank.get(str(item.key), len(order)) <= mine:
            position = index + 1
    items.insert(position, Entry(key, value, None))
    rebuild(mapping, items, trailer)


def replace_value(mapping: CommentedMap, key: str, value: Any) -> None:
    """Give `key` a new value; the comments of the key and of what follows it stay."""
    after = comments_after(mapping, key)
    set_comments_after(mapping, key, "")
    old = mapping[key]
    if isinstance(old, ScalarString) and isinstance(value, str) and not isinstance(value, ScalarString):
        value = type(old)(value)  # keep the quoting the author chose
    mapping[key] = value
    set_comments_after(mapping, key, after)


def remove_key(mapping: CommentedMap, key: str) -> None:
    """Drop `key` and the comments that belong to it; the next key keeps its own."""
    if key not in mapping:
        return
    items, trailer = entries(mapping)
    index = next(i for i, item in enumerate(items) if item.key == key)
    items.pop(index)  # with its lead: the lines above a key describe it
    rebuild(mapping, items, trailer)


# -- property selection ------------------------------------------------------------------------

def set_property_status(path: Path, ids: Sequence[str], status: Literal["enabled", "disabled"], *,
                        root: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """Enable (add to `properties.include`, drop from `exclude`) or disable (the reverse) property ids.

    Creates the `properties:` block if the file has none (nothing else changes meaning: a property
    in neither list keeps following `new_properties`, written out as `enabled` when an `include`
    list first appears, since `include` alone would make the others pending). Ids that are all
    digits are written as numbers (`- 12`); lists stay free of duplicates and sorted (numerically
    when every id is a number).
    """
    wanted = [str(i).strip() for i in ids if str(i).strip()]
    if not wanted:
        return
    doc = load_document(path)
    add_to, drop_from = ("include", "exclude") if status == "enabled" else ("exclude", "include")
    block = doc.get("properties")
    if not isinstance(block, CommentedMap):
        block = CommentedMap()
        insert_key(doc, "properties", block, KEY_ORDER)
    if not isinstance(block.get(add_to), CommentedSeq):
        if add_to == "include" and "include" not in block and "new_properties" not in block:
            # `include` alone means "only these": say outright that the others stay enabled.
            insert_key(block, "new_properties", "enabled", ("include", "exclude", "new_properties"))
        insert_key(block, add_to, CommentedSeq(), ("include", "exclude", "new_properties"))
    _edit_ids(block, add_to, add=wanted)
    if isinstance(block.get(drop_from), CommentedSeq):
        _edit_ids(block, drop_from, remove=wanted)
    save_document(path, doc, root=root, env=env)


def _edit_ids(block: CommentedMap, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
    seq: CommentedSeq = block[key]
    items, trailer = entries(seq)
    kept: dict[str, Entry] = {}
    for item in items:
        text = str(item.value)
        if text not in remove and text not in kept:
            kept[text] = item
    for text in add:
        kept.setdefault(text, Entry(None, _id_value(text), None))
    numeric = all(text.isdigit() for text in kept)
    order = sorted(kept, key=(lambda t: (int(t), t)) if numeric else (lambda t: t))
    rebuild(seq, [kept[text] for text in order], trailer, owner=(block, key))


def _id_value(text: str) -> int | str:
    # `007` stays text: as a number it would be written back as 7, a different id.
    return int(text) if text.isdigit() and str(int(text)) == text else text

