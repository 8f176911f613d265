"""Onboard a customer from a connection that works: `rooftop clone SRC NEW` and `clone SRC --into DST`.

Teams run one connector for many customers with the same streams and settings. Copying a file by
hand copies its credentials and its tables too, so a clone replaces every credential of the source
(every `SecretStr` field of the connector's config model) with a `${VAR}` placeholder, empties the
customer-specific property lists, and refuses to write into the tables SRC already writes.
`--into` pushes SRC's settings onto an existing connection and leaves its identity, credentials,
tables and property lists alone. Both refuse to mix different systems or environments, and both
edit through `pipelines.ops.yaml_edit`, so comments survive and a bad result is never written.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from pipelines.config.models import NAME_PATTERN
from pipelines.config.yaml_reader import VAR
from pipelines.ops.yaml_edit import (
    KEY_ORDER,
    Entry,
    entries,
    insert_key,
    load_document,
    plain,
    read_text,
    rebuild,
    remove_key,
    replace_value,
    save_document,
)
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import CONNECTIONS_DIR, Workspace, environment
from protocol.errors import ConfigError

COPIED_KEYS = ("schedule", "retries", "rate_limit", "max_concurrency", "schema_changes", "initial_window",
               "lookback", "streams", "notify", "retention", "allow_manual_syncs")
"""What `--into` copies: how a connection runs, not whose it is."""
KEPT_KEYS = ("name", "description", "environment", "active", "owners", "tags", "source", "destination",
             "namespace", "prefix", "properties.include", "properties.exclude")
"""What `--into` never touches: identity, credentials, tables, the customer's property lists."""
COPIED_PROPERTY_KEYS = ("new_properties",)
UNFILLED = "rooftop-clone-placeholder"
"""Stands in for a placeholder nobody has set yet while the clone is validated (never written)."""

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Placeholder:
    variable: str
    """The environment variable to set, e.g. ACME_LEASING_API_KEY."""
    field: str
    """Where the file uses it, e.g. source.config.api_key."""
    is_set: bool
    """Already defined in the environment or the workspace's .env."""


@dataclass
class CloneResult:
    path: Path
    file: str
    """`path` as shown to the user (relative to the workspace)."""
    copied: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Copied keys whose value differed in the target before (`--into`)."""
    removed: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    """Customer-specific lists a new clone starts without (`properties.include` / `exclude`)."""
    placeholders: list[Placeholder] = field(default_factory=list)
    shared: list[tuple[str, str]] = field(default_factory=list)
    """(field, `${VAR}` reference) kept as in SRC: a shared warehouse's credentials."""


def clone_connection(workspace: Workspace, source: str, new: str, *, namespace: str | None = None,
                     prefix: str | None = None, environment_name: str | None = None) -> CloneResult:
    """Write `connections/NEW.yaml` from SRC's file, with placeholders for its credentials."""
    src = workspace.get(source)
    _check_new_name(workspace, src, new)
    if environment_name is not None:
        _check_environment(src.config.environment, _environment(environment_name), src.name, new)
    target_namespace = namespace if namespace is not None else src.config.namespace
    target_prefix = prefix if prefix is not None else src.config.prefix
    _check_tables(workspace, src, new, target_namespace, target_prefix)

    src_path = connection_path(src)
    doc = load_document(src_path)
    replace_value(doc, "name", new)
    if namespace is not None:
        insert_key(doc, "namespace", namespace, KEY_ORDER)
    if prefix is not None:
        insert_key(doc, "prefix", DoubleQuotedScalarString(prefix) if prefix == "" else prefix, KEY_ORDER)
    properties = doc.get("properties")
    emptied = [f"properties.{key}" for key in ("include", "exclude")
               if isinstance(properties, CommentedMap) and _clear_list(properties, key)]

    env = environment(workspace.root)
    taken: set[str] = set()
    placeholders: list[Placeholder] = []
    shared: list[tuple[str, str]] = []
    for kind, config in (("source", src.source_config), ("destination", src.destination_config)):
        raw_config = doc[kind].get("config") if isinstance(doc.get(kind), CommentedMap) else None
        for path in secret_paths(config, raw_config):
            container, key = _parent(raw_config, path)
            raw = container[key]
            where = ".".join(str(p) for p in (kind, "config", *path))
            if kind == "destination" and isinstance(raw, str) and VAR.fullmatch(raw.strip()):
                shared.append((where, raw.strip()))  # the same warehouse: keep using its credentials
                continue
            variable = _variable_name(new, kind, path, taken)
            container[key] = _styled(raw, f"${{{variable}}}")
            placeholders.append(Placeholder(variable, where, bool(env.get(variable))))

    target = workspace.root / CONNECTIONS_DIR / f"{new}.yaml"
    fill = {p.variable: UNFILLED for p in placeholders if not p.is_set}
    save_document(target, doc, like=[read_text(src_path)], root=workspace.root,
                  env={**env, **fill})
    copied = [key for key in COPIED_KEYS if key in doc]
    if isinstance(properties, CommentedMap):
        copied += [f"properties.{k}" for k in COPIED_PROPERTY_KEYS if k in properties]
    return CloneResult(path=target, file=f"{CONNECTIONS_DIR}/{new}.yaml", copied=copied,
                       emptied=emptied, placeholders=placeholders, shared=shared)


def clone_into(workspace: Workspace, source: str, destination: str) -> CloneResult:
    """Copy SRC's settings (`COPIED_KEYS`, `properties.new_properties`) onto DST's file in place."""
    src = workspace.get(source)
    dst = workspace.get(destination)
    if src.name == dst.name:
        raise ConfigError(f"cannot clone {src.name!r} into itself")
    _check_connector(src, dst.config.source.connector, dst.name)
    _check_environment(src.config.environment, dst.config.environment, src.name, dst.name)

    src_path, dst_path = connection_path(src), connection_path(dst)
    src_doc, doc = load_document(src_path), load_document(dst_path)
    before = {key: plain(doc.get(key)) for key in COPIED_KEYS}
    copied, removed = copy_keys(doc, src_doc, COPIED_KEYS)
    changed = [key for key in copied if before[key] != plain(doc.get(key))]
    prop_copied, prop_removed, prop_changed = _copy_property_policy(doc, src_doc)
    save_document(dst_path, doc, like=[read_text(src_path)], root=workspace.root)
    return CloneResult(path=dst_path, file=dst.file, copied=copied + prop_copied, changed=changed + prop_changed,
                       removed=removed + prop_removed)


def connection_path(conn: LoadedConnection) -> Path:
    path = Path(conn.file)
    return path if path.is_absolute() else conn.root / path


def secret_paths(config: BaseModel, raw: Any) -> list[Path_]:
    """Paths (under the connector's `config:`) of every credential the file sets.

    A credential is a `SecretStr` field of the connector's config model, at any depth (an `auth:`
    block, a list of models, a mapping of secrets); `config` is the validated model, so unions are
    already resolved, and `raw` the file's mapping, which decides what is written and under which key.
    """
    found: list[Path_] = []
    if not isinstance(raw, dict):
        return found
    for name, info in type(config).model_fields.items():
        key = info.alias if info.alias and info.alias in raw else name
        if key in raw:
            found.extend((key, *rest) for rest in _secrets_in(getattr(config, name), raw[key]))
    return found


def _secrets_in(value: Any, raw: Any) -> list[Path_]:
    if isinstance(value, SecretStr):
        return [()]
    if isinstance(value, BaseModel):
        return secret_paths(value, raw)
    if isinstance(value, list | tuple) and isinstance(raw, list):
        return [(i, *rest) for i, (v, r) in enumerate(zip(value, raw, strict=False)) for rest in _secrets_in(v, r)]
    if isinstance(value, dict) and isinstance(raw, dict):
        return [(k, *rest) for k, v in value.items() if k in raw for rest in _secrets_in(v, raw[k])]
    return []


def copy_keys(target: CommentedMap, source: CommentedMap, keys: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Make `keys` of `target` what they are in `source`, comments included; (copied, removed) keys.

    A key `target` has keeps its place; a new one goes after the key that precedes it in `source`.
    A key of `keys` that `source` lacks is removed from `target`; other keys stay as they are.
    """
    source_items, _ = entries(copy.deepcopy(source))
    incoming = {str(item.key): item for item in source_items if str(item.key) in keys}
    items, trailer = entries(target)
    result: list[Entry] = []
    removed: list[str] = []
    for item in items:
        name = str(item.key)
        if name in incoming:
            result.append(incoming[name])
        elif name in keys:
            removed.append(name)  # with the lines above it: they described it
        else:
            result.append(item)
    source_order = [str(item.key) for item in source_items]
    for name, item in incoming.items():
        placed = [str(e.key) for e in result]
        if name in placed:
            continue
        before = [k for k in source_order[:source_order.index(name)] if k in placed]
        result.insert(placed.index(before[-1]) + 1 if before else 0, item)
    rebuild(target, result, trailer)
    return [name for name in source_order if name in incoming], removed


def _copy_property_policy(doc: CommentedMap, src_doc: CommentedMap) -> tuple[list[str], list[str], list[str]]:
    """`properties.new_properties` follows SRC; DST's include/exclude lists stay."""
    src_block = src_doc.get("properties")
    source = src_block if isinstance(src_block, CommentedMap) else CommentedMap()
    block = doc.get("properties")
    if not isinstance(block, CommentedMap):
        if not any(key in source for key in COPIED_PROPERTY_KEYS):
            return [], [], []
        block = CommentedMap()
        insert_key(doc, "properties", block, KEY_ORDER)
    before = plain(block.get("new_properties"))
    copied, removed = copy_keys(block, source, COPIED_PROPERTY_KEYS)
    if not block:
        remove_key(doc, "properties")  # an empty block would still claim the source has properties
    changed = [k for k in copied if before != plain(block.get(k))]
    return ([f"properties.{k}" for k in copied], [f"properties.{k}" for k in removed],
            [f"properties.{k}" for k in changed])


def _clear_list(mapping: CommentedMap, key: str) -> bool:
    """Empty the list at `key` (its items' comments go too, the key's own stays); True if it had items."""
    seq = mapping.get(key)
    if not isinstance(seq, CommentedSeq) or not seq:
        return False
    _items, trailer = entries(seq)
    rebuild(seq, [], trailer, owner=(mapping, key))
    return True


# -- guards ------------------------------------------------------------------------------------

def _check_new_name(workspace: Workspace, src: LoadedConnection, new: str) -> None:
    if not re.fullmatch(NAME_PATTERN, new):
        raise ConfigError(f"{new!r} is not a valid connection name: lower-case letters, digits and "
                          "underscores, starting with a letter (e.g. acme_leasing)")
    if new == src.name:
        raise ConfigError(f"the clone needs a name of its own, not {src.name!r}")
    folder = workspace.root / CONNECTIONS_DIR
    existing = [p for p in (folder / f"{new}.yaml", folder / f"{new}.yml") if p.exists()]
    if existing:
        raise ConfigError(f"{existing[0].relative_to(workspace.root)} already exists; choose another name, "
                          f"or update it with `rooftop clone {src.name} --into {new}`")
    if new in workspace.connections:
        raise ConfigError(f"connection {new!r} already exists ({workspace.connections[new].file}); choose another "
                          f"name, or update it with `rooftop clone {src.name} --into {new}`")


def _check_connector(src: LoadedConnection, connector: str, other: str) -> None:
    if src.config.source.connector != connector:
        raise ConfigError(f"{src.name!r} reads from the {src.config.source.connector!r} connector and {other!r} "
                          f"from {connector!r}: settings are only meaningful for the same system")


def _environment(value: str) -> str:
    if value not in ("sandbox", "production"):
        raise ConfigError(f"--environment {value!r}: expected sandbox or production")
    return value


def _check_environment(src_env: str, other_env: str, src: str, other: str) -> None:
    if src_env != other_env:
        raise ConfigError(f"{src!r} is a {src_env} connection and {other!r} a {other_env} one: clone does not "
                          "copy settings across environments (test on sandbox connections, then change "
                          "production on purpose)")


def _check_tables(workspace: Workspace, src: LoadedConnection, new: str, namespace: str, prefix: str) -> None:
    """Two connections loading the same tables would overwrite each other's data (and state)."""
    target = (src.config.source.connector, *_tables_of(src), namespace, prefix)
    for other in [src, *(c for c in workspace.connections.values() if c.name != src.name)]:
        if (other.config.source.connector, *_tables_of(other), other.config.namespace,
                other.config.prefix) == target:
            raise ConfigError(f"{new!r} would load the same tables as {other.name!r} (destination "
                              f"{other.config.destination.connector}, namespace {namespace!r}, prefix "
                              f"{prefix!r}); pass --namespace or --prefix to give it tables of its own")


def _tables_of(conn: LoadedConnection) -> tuple[str, str]:
    # Secrets dump as '**********': two configs that differ only in a password are the same warehouse.
    settings = conn.destination_config.model_dump(mode="json")
    return conn.config.destination.connector, repr(sorted(settings.items()))


# -- placeholders ------------------------------------------------------------------------------

def _parent(config: Any, path: Path_) -> tuple[Any, str | int]:
    node = config
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def _variable_name(new: str, kind: str, path: Path_, taken: set[str]) -> str:
    """`${NEW}_{FIELD}`, e.g. ACME_LEASING_API_KEY; the longer path only when two fields share a name."""
    leaf = next((str(p) for p in reversed(path) if isinstance(p, str)), kind)
    for parts in ((new, leaf), (new, *map(str, path)), (new, kind, *map(str, path))):
        name = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper()
        if name not in taken:
            taken.add(name)
            return name
    raise ConfigError(f"cannot name a placeholder for {kind}.config.{'.'.join(map(str, path))}")


def _styled(old: Any, value: str) -> Any:
    # Keep the author's quoting; a bare ${VAR} inside a flow mapping ({api_key: ${X}}) would not parse.
    return type(old)(value) if isinstance(old, ScalarString) else DoubleQuotedScalarString(value)
