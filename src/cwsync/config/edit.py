"""Editing the configuration file safely: round-trip YAML, validated, written atomically, comments kept (PL-1).

The console edits the very file the CLI reads. An edit is a list of `Change` values (plain data: set, delete,
append or discard at a path), applied to the ruamel round-trip tree of the file, so every comment, key order and
flow style the user wrote survives. The result is validated by the same loader the CLI uses (`parse_config`: the
pydantic model, with file:line errors) before anything is written; callers add the checks of higher layers (the
mappings and the HubSpot schemas) through `EditedConfig.config`. Then `write_atomic` replaces the file: a temporary
file in the same folder, fsynced, renamed over the old one (and the folder fsynced), so a crash leaves the old file
or the new one, never half of each.

Secrets never land in the file: a secret field (every `SecretStr` of the model) may only be set to an environment
reference (`${NAME}`, without a default) or a stored-secret reference (`${secret:NAME}`); anything else is refused.
A save also refuses to overwrite a file that changed since the edit was prepared (`StaleEditError`).

::

    doc = ConfigDocument.read("cwsync.yaml")
    edited = doc.apply([set_value(("syncs", "hubspot", "objects", "deals", "direction"), "->")])
    edited.validate(environ=os.environ)        # raises ConfigError naming file, line and field
    edited.save(expected=doc.sha256)           # raises StaleEditError when the file changed meanwhile
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import itertools
import os
import re
import tempfile
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from cwsync.config.loader import ConfigError, ConfigProblem, _line_of, parse_config
from cwsync.config.model import Config

__all__ = [
    "SECRET_REFERENCE",
    "Change",
    "ConfigDocument",
    "EditError",
    "EditedConfig",
    "StaleEditError",
    "add_field",
    "add_filter",
    "append",
    "delete",
    "diff_text",
    "discard",
    "effect_of",
    "problems_in",
    "remove_field",
    "remove_filter",
    "secret_paths",
    "set_field_direction",
    "set_value",
    "set_value_map",
    "sha256_text",
    "write_atomic",
]

Loc = tuple[str | int, ...]
Op = Literal["set", "delete", "append", "discard"]

SECRET_REFERENCE = re.compile(r"^\$\{(?:[A-Za-z_][A-Za-z0-9_]*|secret:[A-Za-z0-9_.-]+)\}$")
"""What a secret field may hold in the file: `${ENV_NAME}` or `${secret:name}` (a secret stored encrypted)."""

_PRUNABLE = {"value_maps", "fields", "add", "remove", "direction", "filters", "connectwise", "hubspot"}
"""Containers left empty by a delete that mean the same as absent (only under an object: deeper than 4 levels)."""


class EditError(ValueError):
    """An edit that cannot be applied (a path through a scalar, an index out of range, a secret in plain text)."""


class StaleEditError(EditError):
    """The file changed since the edit was prepared: reload it and apply the edit again."""


@dataclass(frozen=True, slots=True)
class Change:
    """One edit of the YAML tree: `set` a value, `delete` a key or index, `append` to a list, `discard` from one."""

    op: Op
    path: Loc
    value: Any = None

    def describe(self) -> str:
        """`set syncs.hubspot.objects.deals.direction = "->"`: what the versions list shows."""
        where = _dotted(self.path)
        if self.op == "delete":
            return f"delete {where}"
        shown = repr(self.value) if len(repr(self.value)) <= 80 else repr(self.value)[:77] + "..."
        return {"set": f"set {where} = {shown}", "append": f"add {shown} to {where}"}.get(
            self.op, f"remove {shown} from {where}"
        )


def set_value(path: Loc, value: Any) -> Change:
    """Set `path` to `value`, creating the mappings on the way; a mapping or list over one keeps what it can of
    the old node (comments of the keys and items that stay)."""
    return Change("set", tuple(path), value)


def delete(path: Loc) -> Change:
    """Remove the key (or list index) at `path`; absent already: nothing to do."""
    return Change("delete", tuple(path))


def append(path: Loc, value: Any) -> Change:
    """Append `value` to the list at `path` (created when missing)."""
    return Change("append", tuple(path), value)


def discard(path: Loc, value: Any) -> Change:
    """Remove every item equal to `value` from the list at `path` (absent: nothing to do)."""
    return Change("discard", tuple(path), value)


# --- the document --------------------------------------------------------------------------------------------------


def _yaml(text: str = "") -> YAML:
    """A round-trip YAML that writes the way `text` is written: its indentation of mappings and of list items
    under their key, `null` spelt out, long lines never re-wrapped, quotes as they were."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    yaml.representer.add_representer(type(None), _null)
    return yaml


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_KEY_LINE = re.compile(r"^( *)[^\s#-][^:#]*:\s*(#.*)?$")


def _indentation(text: str) -> tuple[int, int]:
    """(mapping indent, list-item offset) of the first nested key and the first block list in `text` (2 and 0, as
    ruamel writes, when the text has none)."""
    mapping, offset = None, None
    lines = text.splitlines()
    for line, after in itertools.pairwise(lines):
        key = _KEY_LINE.match(line)
        if key is None or not after.strip() or after.lstrip().startswith("#"):
            continue
        depth, inner = len(key.group(1)), len(after) - len(after.lstrip())
        if after.lstrip().startswith("- ") and offset is None:
            offset = max(0, inner - depth)
        elif inner > depth and mapping is None:
            mapping = inner - depth
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset if offset is not None else 0


def sha256_text(text: str) -> str:
    """The hex SHA-256 of the file's text: what a save checks the file against, and a version's identity."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ConfigDocument:
    """The configuration file's text as read, and where it came from."""

    path: Path
    text: str

    @classmethod
    def read(cls, path: Path | str) -> ConfigDocument:
        """Read the file (UTF-8).

        Raises:
            ConfigError: it cannot be read.
        """
        path = Path(path)
        try:
            return cls(path, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(path, [ConfigProblem(None, "", f"cannot read the file: {exc}")]) from exc

    @property
    def sha256(self) -> str:
        """The text's hash (see `sha256_text`)."""
        return sha256_text(self.text)

    def tree(self) -> CommentedMap:
        """A fresh round-trip tree of the text (every call parses anew: edits never share nodes)."""
        try:
            tree = _yaml().load(self.text)
        except (YAMLError, TypeError) as exc:
            raise ConfigError(self.path, [ConfigProblem(None, "", f"not valid YAML: {exc}")]) from exc
        if not isinstance(tree, CommentedMap):
            raise ConfigError(self.path, [ConfigProblem(1, "", "the file must be a YAML mapping (key: value pairs)")])
        return tree

    def get(self, path: Loc, default: Any = None) -> Any:
        """The plain value at `path` in the file as written (`${ENV}` references not expanded), or `default`."""
        node = _at(self.tree(), path)
        return default if node is None else _plain(node)

    def apply(self, changes: Iterable[Change]) -> EditedConfig:
        """This document with `changes` applied in order (nothing is written).

        Raises:
            EditError: a change cannot be applied, or it puts a secret in plain text into the file.
        """
        changes = list(changes)
        tree = self.tree()
        for change in changes:
            _apply(tree, change)
        buffer = io.StringIO()
        _yaml(self.text).dump(tree, buffer)
        text = buffer.getvalue()
        _check_secrets(self.tree(), tree)
        return EditedConfig(self, text, tuple(changes))


@dataclass(frozen=True)
class EditedConfig:
    """The file's new text after an edit, not yet written."""

    base: ConfigDocument
    text: str
    changes: tuple[Change, ...] = field(default=())

    @property
    def path(self) -> Path:
        """The file it replaces."""
        return self.base.path

    def validate(self, *, environ: Mapping[str, str]) -> Config:
        """The new text through the CLI's loader: the validated `Config`, or `ConfigError` naming line and field.

        The store path resolves against the file's folder as `load_config` does, and the model knows its file, so
        later checks (`problems_at`) name lines of the file as it will be once saved: pass them this text.
        """
        from cwsync.config.loader import resolve_store

        config = parse_config(self.text, path=self.path, environ=environ)
        config = config.model_copy(update={"store": resolve_store(config.store, self.path.resolve().parent)})
        config._source = str(self.path)
        return config

    def problems(self, found: Iterable[tuple[Loc, str]]) -> ConfigError:
        """Problems found by later checks (a path into the configuration and a message each), as a `ConfigError`
        naming the lines of this new text (what the file will hold once saved)."""
        return problems_in(self, found)

    def diff(self) -> str:
        """A unified diff from the file as read to the new text."""
        return diff_text(self.base.text, self.text, "before", "after")

    def save(self, *, expected: str | None = None) -> None:
        """Write the new text over the file atomically (see `write_atomic`).

        Args:
            expected: the SHA-256 of the text the edit was prepared against (default: the base this edit read).

        Raises:
            StaleEditError: the file on disk is no longer that text (someone else saved it meanwhile).
        """
        wanted = expected or self.base.sha256
        try:
            current = sha256_text(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            current = ""
        if current != wanted:
            raise StaleEditError(
                f"{self.path} changed since this edit was prepared (by hand or another session): reload and try again"
            )
        write_atomic(self.path, self.text)


def problems_in(edited: EditedConfig, found: Iterable[tuple[Loc, str]]) -> ConfigError:
    """`found` (path, message) as a `ConfigError` with the lines of `edited`'s text (see `EditedConfig.problems`)."""
    try:
        tree: Any = _yaml().load(edited.text)
    except (YAMLError, TypeError):
        tree = None
    problems = [
        ConfigProblem(_line_of(tree, tuple(loc)) if tree is not None else None, _dotted(loc), message)
        for loc, message in found
    ]
    return ConfigError(edited.path, problems)


def write_atomic(path: Path | str, text: str) -> None:
    """Replace `path` with `text`: a temporary file in the same folder, fsynced, renamed over it, folder fsynced.

    The file keeps its permission bits (a new file gets 0600: configuration files hold references to secrets).
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open folders: the rename is still atomic
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def diff_text(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two versions of the file (three lines of context)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_label, tofile=new_label
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# --- applying a change ---------------------------------------------------------------------------------------------


def _apply(tree: CommentedMap, change: Change) -> None:
    if not change.path:
        raise EditError("a change needs a path inside the file")
    if change.op == "set":
        parent = _container(tree, change.path[:-1], create=True)
        _assign(parent, change.path[-1], change.value, change.path)
    elif change.op == "delete":
        parent = _container(tree, change.path[:-1], create=False)
        if parent is not None:
            _remove(parent, change.path[-1])
            _prune(tree, change.path[:-1])
    elif change.op == "append":
        target = _list_at(tree, change.path, create=True)
        assert target is not None
        target.append(_node(change.value))
    else:  # discard
        target = _list_at(tree, change.path, create=False)
        if target is not None:
            for index in reversed([i for i, item in enumerate(target) if _plain(item) == change.value]):
                del target[index]
            _prune(tree, change.path)


def _container(tree: CommentedMap, path: Loc, *, create: bool) -> Any:
    """The mapping or list at `path` (mappings created on the way when `create`), or None when absent."""
    node: Any = tree
    for depth, part in enumerate(path):
        if isinstance(node, CommentedMap):
            if part not in node or node[part] is None:
                if not create:
                    return None
                node[part] = CommentedMap()
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int):
            if not -len(node) <= part < len(node):
                if not create:
                    return None
                raise EditError(f"{_dotted(path[: depth + 1])}: no item {part} (the list has {len(node)})")
            node = node[part]
        else:
            raise EditError(f"{_dotted(path[: depth + 1])}: {_dotted(path[:depth]) or 'the file'} is not a mapping")
    if not isinstance(node, CommentedMap | CommentedSeq):
        raise EditError(f"{_dotted(path)} is a value, not a mapping or list")
    return node


def _list_at(tree: CommentedMap, path: Loc, *, create: bool) -> CommentedSeq | None:
    parent = _container(tree, path[:-1], create=create)
    if parent is None:
        return None
    key = path[-1]
    current = parent.get(key) if isinstance(parent, CommentedMap) else _item(parent, key, path)
    if current is None:
        if not create:
            return None
        current = CommentedSeq()
        parent[key] = current
    if not isinstance(current, CommentedSeq):
        raise EditError(f"{_dotted(path)} is not a list")
    return current


def _item(seq: CommentedSeq, key: str | int, path: Loc) -> Any:
    if not isinstance(key, int) or not -len(seq) <= key < len(seq):
        raise EditError(f"{_dotted(path)}: no such item")
    return seq[key]


def _assign(parent: Any, key: str | int, value: Any, path: Loc) -> None:
    """`parent[key] = value`, merged into the node already there when both are mappings or both lists (so the
    comments, key order and flow style of what stays are kept)."""
    if isinstance(parent, CommentedSeq):
        if not isinstance(key, int):
            raise EditError(f"{_dotted(path)}: a list takes an item number, not {key!r}")
        if key == len(parent):
            parent.append(_node(value))
            return
        _item(parent, key, path)
    old = parent.get(key) if isinstance(parent, CommentedMap) else parent[key]
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        for gone in [k for k in old if k not in value]:
            del old[gone]
        for k, v in value.items():
            _assign(old, k, v, (*path, k))
    elif isinstance(old, CommentedSeq) and isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if index < len(old):
                _assign(old, index, item, (*path, index))
            else:
                old.append(_node(item))
        del old[len(value) :]
    elif _plain(old) != value or old is None:
        parent[key] = _node(value)


def _remove(parent: Any, key: str | int) -> None:
    if isinstance(parent, CommentedMap):
        parent.pop(key, None)
    elif isinstance(parent, CommentedSeq) and isinstance(key, int) and -len(parent) <= key < len(parent):
        del parent[key]


def _prune(tree: CommentedMap, path: Loc) -> None:
    """Drop the emptied containers of `path` that mean the same as absent (see `_PRUNABLE`)."""
    while len(path) > 4 and path[-1] in _PRUNABLE:
        parent = _container(tree, path[:-1], create=False)
        if parent is None or not isinstance(parent, CommentedMap):
            return
        node = parent.get(path[-1])
        if not (isinstance(node, CommentedMap | CommentedSeq) and len(node) == 0):
            return
        del parent[path[-1]]
        path = path[:-1]


def _node(value: Any) -> Any:
    """A plain value as round-trip nodes: small mappings of scalars in flow style (`{field: x, op: eq}`)."""
    if isinstance(value, Mapping):
        out = CommentedMap((k, _node(v)) for k, v in value.items())
        if value and len(value) <= 6 and all(_scalar_or_short_list(v) for v in value.values()):
            out.fa.set_flow_style()
        return out
    if isinstance(value, list | tuple):
        seq = CommentedSeq(_node(v) for v in value)
        if all(_scalar(v) for v in value) and len(value) <= 12:
            seq.fa.set_flow_style()
        return seq
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _scalar_or_short_list(value: Any) -> bool:
    return _scalar(value) or (isinstance(value, list | tuple) and len(value) <= 12 and all(map(_scalar, value)))


def _plain(node: Any) -> Any:
    """Round-trip nodes as plain dicts, lists and scalars (ruamel's string subclasses as `str`)."""
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- secrets -------------------------------------------------------------------------------------------------------


def secret_paths(model: type[BaseModel] = Config) -> list[Loc]:
    """Every path of the model that holds a secret (`SecretStr`); `"*"` stands for any key or item."""
    found: list[Loc] = []

    def walk(annotation: Any, loc: Loc, seen: frozenset[type]) -> None:
        origin = typing.get_origin(annotation)
        if annotation is SecretStr:
            found.append(loc)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in seen:
            for name, info in annotation.model_fields.items():
                walk(info.annotation, (*loc, info.alias or name), seen | {annotation})
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(annotation):
                walk(arg, loc, seen)
        elif origin in (list, tuple, dict):
            for arg in typing.get_args(annotation)[-1:]:
                walk(arg, (*loc, "*"), seen)

    walk(model, (), frozenset())
    return found


def _check_secrets(before: CommentedMap, after: CommentedMap) -> None:
    """Refuse an edit that writes a secret field as anything but a reference (unchanged values are left alone)."""
    for pattern in secret_paths():
        for loc, value in _matches(after, pattern):
            if value is None or _plain(value) == _plain(_at(before, loc)):
                continue
            if not (isinstance(value, str) and SECRET_REFERENCE.match(value.strip())):
                raise EditError(
                    f"{_dotted(loc)} is a secret: the file may only refer to it (${{ENV_NAME}}, or ${{secret:name}}"
                    " for one stored encrypted), never hold it"
                )


def _matches(node: Any, pattern: Loc, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    if not pattern:
        yield loc, node
        return
    head, rest = pattern[0], pattern[1:]
    if isinstance(node, Mapping):
        keys = list(node) if head == "*" else [head] if head in node else []
        for key in keys:
            yield from _matches(node[key], rest, (*loc, key))
    elif isinstance(node, list) and head == "*":
        for index, item in enumerate(node):
            yield from _matches(item, rest, (*loc, index))


def _at(node: Any, loc: Loc) -> Any:
    """The node at `loc`, or None when the path does not exist."""
    for part in loc:
        has = part in node if isinstance(node, Mapping) else _has_index(node, part)
        if not has:
            return None
        node = node[part]
    return node


def _has_index(node: Any, part: str | int) -> bool:
    return isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node)


# --- the edits the console makes -----------------------------------------------------------------------------------


def _object(pair: str) -> Loc:
    return ("syncs", "hubspot", "objects", pair)


def add_field(
    doc: ConfigDocument,
    pair: str,
    *,
    connectwise: str,
    hubspot: str,
    direction: str = "<->",
    left_type: str | None = None,
    right_type: str | None = None,
    label: str | None = None,
    group: str | None = None,
) -> list[Change]:
    """Map a ConnectWise field to a HubSpot property (HS-3; with `label`/`group`, a custom property cwsync creates,
    HS-5); a default field of that name removed earlier comes back as this mapping."""
    entry: dict[str, Any] = {"connectwise": connectwise, "hubspot": hubspot, "direction": direction}
    extras = {"type": left_type, "other_type": right_type, "label": label, "group": group}
    entry.update({k: v for k, v in extras.items() if v})
    base = (*_object(pair), "fields")
    added = doc.get((*base, "add"), []) or []
    changes = [discard((*base, "remove"), hubspot)]
    for index, item in enumerate(added):
        if isinstance(item, Mapping) and hubspot in (item.get("hubspot"), item.get("other")):
            return [*changes, set_value((*base, "add", index), entry)]
    return [*changes, append((*base, "add"), entry)]


def remove_field(doc: ConfigDocument, pair: str, name: str, *, defaults: Iterable[str]) -> list[Change]:
    """Stop mapping field `name`: an added one leaves `fields.add`, a default one goes into `fields.remove`; its
    direction and value map go with it."""
    base = _object(pair)
    changes = [delete((*base, "fields", "direction", name)), delete((*base, "value_maps", name))]
    added = doc.get((*base, "fields", "add"), []) or []
    for index in reversed(range(len(added))):
        item = added[index]
        if isinstance(item, Mapping) and name in (item.get("hubspot"), item.get("other")):
            changes.append(delete((*base, "fields", "add", index)))
    if name in set(defaults):
        removed = doc.get((*base, "fields", "remove"), []) or []
        if name not in removed:
            changes.append(append((*base, "fields", "remove"), name))
    return changes


def set_field_direction(doc: ConfigDocument, pair: str, name: str, direction: str) -> list[Change]:
    """Change the direction one field flows (an added field's own entry, else `fields.direction`)."""
    base = (*_object(pair), "fields")
    added = doc.get((*base, "add"), []) or []
    for index, item in enumerate(added):
        if isinstance(item, Mapping) and name in (item.get("hubspot"), item.get("other")):
            return [set_value((*base, "add", index, "direction"), direction)]
    return [set_value((*base, "direction", name), direction)]


def set_value_map(pair: str, name: str, value_map: Mapping[str, str]) -> list[Change]:
    """Set the value map of field `name` (ConnectWise value → the other side's); an empty map removes it."""
    path = (*_object(pair), "value_maps", name)
    cleaned = {str(k).strip(): str(v).strip() for k, v in value_map.items() if str(k).strip()}
    return [set_value(path, cleaned)] if cleaned else [delete(path)]


def add_filter(pair: str, side: Literal["connectwise", "hubspot"], rule: Mapping[str, Any]) -> list[Change]:
    """Add a filter rule (`{field, op, value}`) on one side of a pair (HS-7)."""
    entry = {k: v for k, v in rule.items() if k in ("field", "op", "value") and v is not None}
    return [append((*_object(pair), "filters", side), entry)]


def remove_filter(pair: str, side: Literal["connectwise", "hubspot"], index: int) -> list[Change]:
    """Remove the filter rule at `index` on one side of a pair."""
    return [delete((*_object(pair), "filters", side, index))]


_EFFECTS: tuple[tuple[Loc, str], ...] = (
    (
        ("syncs", "hubspot"),
        "affects future syncs only: records already synced keep their values until they change or a full sync runs",
    ),
    (("syncs", "hudu"), "affects future Hudu syncs only: what Hudu holds now stays until the next sync writes it"),
    (
        ("syncs", "catalog"),
        "affects future catalog syncs only: HubSpot products stay as they are until they change or a full sync runs",
    ),
    (("syncs", "changes"), "affects future change events only: tickets already linked keep their statuses"),
    (("syncs", "mirror"), "affects future mirror runs only"),
    (("connections",), "takes effect at the next connection (the running server reads it when it restarts)"),
    (("server",), "takes effect when `cwsync serve` restarts"),
)


def effect_of(changes: Iterable[Change]) -> list[str]:
    """What the saved changes affect, said once per area (e.g. "affects future syncs only: ...")."""
    said: dict[str, None] = {}
    for change in changes:
        for prefix, text in _EFFECTS:
            if change.path[: len(prefix)] == prefix:
                said[text] = None
                break
    return list(said)
