"""The configuration loader refuses hostile files with file, line and field, never a traceback (issue 20)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cwsync.config import ConfigError, load_config, parse_config
from cwsync.config.loader import MAX_DEPTH, MAX_NODES
from cwsync.config.model import STORE_SCHEMES

CONNECTIONS = """\
connections:
  connectwise: {site: na.myconnectwise.net, company_id: acme, public_key: pub, private_key: k, client_id: cid}
"""

# The shape of the reported 229-byte file (5 s of CPU, 121 MB): six levels of nine aliases, 9^6 values
ALIAS_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
)


def _refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path="c.yaml", environ={})
    return info.value


def test_deep_nesting_is_refused_at_its_line() -> None:
    """5,000 nested `[` used to be a RecursionError in the YAML composer."""
    error = _refused(CONNECTIONS + "syncs: " + "[" * 5000 + "]" * 5000 + "\n")
    assert f"c.yaml:3: nested deeper than {MAX_DEPTH} levels" in str(error)


def test_deep_block_nesting_is_refused() -> None:
    """Indented (block) nesting counts the same as flow brackets."""
    text = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 3)) + "  " * (MAX_DEPTH + 3) + "v: 1\n"
    assert "nested deeper than" in str(_refused(text))


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    """An invalid UTF-8 byte used to escape as UnicodeDecodeError."""
    path = tmp_path / "cwsync.yaml"
    path.write_bytes(CONNECTIONS.encode() + b"tenant: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert f"{path}:3: not valid UTF-8 (byte 0xe9" in str(info.value)


def test_control_character_is_a_config_error() -> None:
    """The YAML reader's own error (not a MarkedYAMLError) is reported too."""
    assert "not valid YAML" in str(_refused(CONNECTIONS + "tenant: a\x00b\n"))


def test_small_alias_bomb_is_refused_quickly() -> None:
    """A file of about 200 bytes expanding to 9^6 values is refused in well under a second of CPU."""
    assert len(ALIAS_BOMB) < 230
    started = time.process_time()
    error = _refused(ALIAS_BOMB)
    assert time.process_time() - started < 1.0
    assert f"expands to more than {MAX_NODES} values" in str(error)
    assert "c.yaml:6: f" in str(error)  # named at the key that expands, not at the aliased list


def test_billion_laughs_is_refused() -> None:
    """A 10^9-value bomb used to run until killed."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.append("boom: [" + ",".join(["*l8"] * 10) + "]")
    started = time.process_time()
    assert "expands to more than" in str(_refused("\n".join(lines) + "\n"))
    assert time.process_time() - started < 1.0


def test_small_aliases_still_work() -> None:
    """Aliases and merge keys within the bound are expanded as before."""
    text = """\
defaults: &defaults {site: na.myconnectwise.net, company_id: acme, public_key: pub, private_key: k, client_id: cid}
connections:
  connectwise:
    <<: *defaults
    public_key: other
"""
    with pytest.raises(ConfigError) as info:  # `defaults` is not a field: the alias itself was read fine
        parse_config(text, path="c.yaml", environ={})
    assert [p.field for p in info.value.problems] == ["defaults"]


def test_complex_mapping_key_is_refused() -> None:
    """A sequence as a mapping key is named, not a TypeError."""
    assert "mapping key must be a plain value" in str(_refused(CONNECTIONS + "? [a, b]\n: c\n"))


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("mysql://x", "unsupported database URL scheme 'mysql'"),
        ("''", "not a database URL"),
        ("sqlite://", "SQLite needs a file"),
        ("'sqlite:///:memory:'", "SQLite needs a file"),
        ("postgresql://", "PostgreSQL needs a host or a database"),
    ],
)
def test_unknown_store_urls_are_refused_when_the_file_loads(store: str, message: str) -> None:
    """`store: mysql://x` and `store: ''` used to load and fail with a traceback at the first command."""
    error = _refused(f"store: {store}\n" + CONNECTIONS)
    assert f"c.yaml:1: store: {message}" in str(error)
    assert "sqlite:///" in str(error)  # the fix: which forms work


def test_store_schemes_match_what_the_store_opens() -> None:
    """The loader's list of schemes is the store's (they live in two layers)."""
    from cwsync.store.store import _ASYNC_DRIVERS

    assert set(STORE_SCHEMES) == set(_ASYNC_DRIVERS)


def test_block_mapping_used_as_a_key_is_a_config_error() -> None:
    """Found by the fuzz suite: a `?` before a block mapping made ruamel raise TypeError (unhashable key)."""
    from tests.config.test_config import GOOD

    assert "mapping key must be a plain value" in str(_refused(GOOD[:353] + "?" + GOOD[353:]))
