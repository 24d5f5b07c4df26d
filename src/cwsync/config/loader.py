"""Loading the YAML configuration: `${ENV}` secrets, then validation, with errors that name file, line and field."""

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
from ruamel.yaml.error import MarkedYAMLError

from cwsync.config.model import Config

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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [ConfigProblem(None, "", f"cannot read the file: {exc.strerror or exc}")]) from exc
    config = parse_config(text, path=path, environ=os.environ if environ is None else environ)
    return config.model_copy(update={"store": resolve_store(config.store, path.resolve().parent)})


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
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, [ConfigProblem(line, "", f"not valid YAML: {exc.problem}")]) from exc
    if not isinstance(tree, CommentedMap):
        raise ConfigError(path, [ConfigProblem(1, "", "the file must be a YAML mapping (key: value pairs)")])
    problems: list[ConfigProblem] = []
    data = _Interpolation(tree, environ, problems).value(tree, ())
    if problems:
        raise ConfigError(path, problems)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(tree, err) for err in exc.errors()]) from exc


@dataclass
class _Interpolation:
    """Plain data with `${VAR}` / `${VAR:-default}` replaced; unset variables become problems with their line."""

    tree: CommentedMap
    environ: Mapping[str, str]
    problems: list[ConfigProblem]

    def value(self, node: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(node, Mapping):
            return {key: self.value(item, (*loc, key)) for key, item in node.items()}
        if isinstance(node, list):
            return [self.value(item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return _ENV.sub(lambda match: self._variable(match, loc), node)
        return node

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
    return ConfigProblem(_line_of(tree, loc), _dotted(loc), message)
