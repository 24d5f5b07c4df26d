"""Loading the YAML configuration: `${ENV}` secrets, then validation, with errors that name file, line and field.

The file is untrusted input as far as its shape goes (issue 20): it must be UTF-8, nest at most `MAX_DEPTH`
levels, and expand to at most `MAX_NODES` values — YAML aliases (`*name`, `<<: *name`) work, but a file whose
aliases expand past that bound (a "billion laughs") is refused, as is an alias that contains itself.
Every refusal is a `ConfigError` naming file and line, never a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from cwsync.config.model import Config

MAX_DEPTH = 64
"""Nesting levels (mappings and sequences) a configuration may have, aliases expanded."""

MAX_NODES = 100_000
"""Values (scalars, mappings, sequences) a configuration may expand to, aliases expanded."""

MAX_BYTES = 4 * 1024 * 1024
"""The largest configuration file read."""

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file."""

    line: int | None
    field: str
    message: str


class ConfigError(Exception):
    """The configuration cannot be used; `str()` lists every problem as `file:line: field: message`."""

    def __init__(self, path: Path | str, problems: list[ConfigProblem]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        """Every problem on its own line."""
        lines = []
        for p in self.problems:
            where = f"{self.path}:{p.line}" if p.line else self.path
            lines.append(f"{where}: {p.field}: {p.message}" if p.field else f"{where}: {p.message}")
        return "\n".join(lines)


def load_config(path: Path | str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a configuration file.

    A relative SQLite store path is resolved against the file's folder (`resolve_store`).

    Raises:
        ConfigError: the file is missing, not YAML, refers to unset environment variables, or fails validation.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, [ConfigProblem(None, "", f"cannot read the file: {exc.strerror or exc}")]) from exc
    if len(raw) > MAX_BYTES:
        raise ConfigError(path, [ConfigProblem(None, "", f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}): save the file as UTF-8"
        raise ConfigError(path, [ConfigProblem(line, "", message)]) from None
    config = parse_config(text, path=path, environ=os.environ if environ is None else environ)
    config = config.model_copy(update={"store": resolve_store(config.store, path.resolve().parent)})
    config._source = str(path)
    return config


def problems_at(config: Config, found: list[tuple[tuple[Any, ...], str]]) -> ConfigError:
    """Problems found after loading (a path into the configuration and a message each), as a `ConfigError` naming
    the lines of the file the configuration came from."""
    tree: Any = None
    if config.source is not None:
        try:
            tree = YAML(typ="rt").load(Path(config.source).read_text(encoding="utf-8"))
        except (OSError, MarkedYAMLError, ValueError):
            tree = None
    problems = [ConfigProblem(_line_of(tree, loc) if tree is not None else None, _dotted(loc), m) for loc, m in found]
    return ConfigError(config.source or "<config>", problems)


_SQLITE = re.compile(r"^(sqlite(?:\+aiosqlite)?:///)(.*)$")


def resolve_store(url: str, folder: Path) -> str:
    """An SQLite URL with a relative path made absolute against `folder` (the configuration file's folder).

    `sqlite:///cwsync.db` in `/etc/cwsync/cwsync.yaml` is `/etc/cwsync/cwsync.db`, wherever the command runs;
    absolute paths (`sqlite:////var/lib/cwsync.db`) and other databases are returned as they are.
    """
    found = _SQLITE.match(url)
    if not found or not found.group(2) or found.group(2).startswith("/") or found.group(2).startswith(":memory:"):
        return url
    text, _, query = found.group(2).partition("?")
    database = Path(text).expanduser()
    target = database if database.is_absolute() else (folder / database).resolve()
    return found.group(1) + target.as_posix() + (f"?{query}" if query else "")


def parse_config(text: str, *, path: Path | str = "<config>", environ: Mapping[str, str]) -> Config:
    """Validate configuration text (see `load_config`)."""
    try:
        _check_nesting(text, path)
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, [ConfigProblem(line, "", f"not valid YAML: {exc.problem}")]) from None
    except YAMLError as exc:  # e.g. a control character the reader refuses (it names the position itself)
        raise ConfigError(path, [ConfigProblem(None, "", f"not valid YAML: {exc}")]) from None
    except TypeError:  # ruamel's round-trip constructor meets a mapping or list used as a mapping key
        message = "not valid YAML: a mapping key must be a plain value, not a list or mapping"
        raise ConfigError(path, [ConfigProblem(None, "", message)]) from None
    if not isinstance(tree, CommentedMap):
        raise ConfigError(path, [ConfigProblem(1, "", "the file must be a YAML mapping (key: value pairs)")])
    problems: list[ConfigProblem] = []
    try:
        data = _Interpolation(tree, environ, problems).value(tree, ())
    except _TooBig as exc:  # named at the key where the expansion starts (deeper lines are the aliased values')
        where = exc.loc[:1]
        raise ConfigError(path, [ConfigProblem(_line_of(tree, where), _dotted(where), exc.message)]) from None
    if problems:
        raise ConfigError(path, problems)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(tree, err) for err in exc.errors()]) from exc


def _check_nesting(text: str, path: Path | str) -> None:
    """Refuse nesting deeper than `MAX_DEPTH` before the (recursive) composer sees it; the parser is iterative."""
    depth = 0
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                message = f"nested deeper than {MAX_DEPTH} levels"
                raise ConfigError(path, [ConfigProblem(line, "", message)])
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


class _TooBig(Exception):
    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        self.loc = loc
        self.message = message


@dataclass
class _Interpolation:
    """Plain data with `${VAR}` / `${VAR:-default}` replaced; unset variables become problems with their line.

    Aliases are expanded here (the YAML tree shares them), so the depth and the number of values are bounded here.
    """

    tree: CommentedMap
    environ: Mapping[str, str]
    problems: list[ConfigProblem]
    nodes: int = 0

    def value(self, node: Any, loc: tuple[Any, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(loc, f"the file expands to more than {MAX_NODES} values (YAML aliases repeated too often?)")
        if len(loc) > MAX_DEPTH:
            raise _TooBig(loc, f"nested deeper than {MAX_DEPTH} levels (a YAML alias that contains itself?)")
        if isinstance(node, Mapping):
            return {self._key(key, loc): self.value(item, (*loc, key)) for key, item in node.items()}
        if isinstance(node, list):
            return [self.value(item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return _ENV.sub(lambda match: self._variable(match, loc), node)
        return node

    def _key(self, key: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(key, str | int | float | bool) or key is None:
            return key
        raise _TooBig(loc, "a mapping key must be a plain value, not a list or mapping")

    def _variable(self, match: re.Match[str], loc: tuple[Any, ...]) -> str:
        name, default = match.group(1), match.group(2)
        if name in self.environ:
            return self.environ[name]
        if default is not None:
            return default
        message = f"environment variable {name} is not set"
        self.problems.append(ConfigProblem(_line_of(self.tree, loc), _dotted(loc), message))
        return ""


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(tree: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node of `loc` that exists in the YAML tree."""
    node, line = tree, 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _problem(tree: Any, error: Mapping[str, Any]) -> ConfigProblem:
    loc = tuple(error["loc"])
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see docs/configuration.md)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    return ConfigProblem(_line_of(tree, loc), _dotted(loc), message)
