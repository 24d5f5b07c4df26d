"""Writing the configuration file from the console: a round-trip edit (comments and order kept), validated before
it replaces the file, replaced atomically.

::

    update_config_file(path, {("connections", "connectwise", "site"): "na.myconnectwise.net"})

The new text is checked with the same loader `cwsync` uses (`parse_config`); a change that does not validate raises
`ConfigError` and leaves the file as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.config.loader import parse_config

__all__ = ["update_config_file"]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def update_config_file(path: Path, changes: Mapping[tuple[str, ...], Any]) -> Config:
    """Set each dotted key of `changes` (creating mappings on the way), validate, and replace the file; returns the
    configuration the new file loads to. ConfigError (file, line, field) when the result is not a valid config."""
    yaml = _yaml()
    try:
        tree = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    except OSError as exc:
        raise ConfigError(path, [ConfigProblem(None, "", f"cannot read the file: {exc.strerror or exc}")]) from exc
    if tree is None:
        tree = CommentedMap()
    for keys, value in changes.items():
        node = tree
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = CommentedMap()
            node = node[key]
        node[keys[-1]] = value
    buffer = io.StringIO()
    yaml.dump(tree, buffer)
    text = buffer.getvalue()
    config = parse_config(text, path=path, environ=os.environ)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            os.chmod(name, path.stat().st_mode & 0o777)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return config
