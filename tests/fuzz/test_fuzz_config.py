"""Fuzzing the configuration loader (issue 20): any text or bytes is a `Config` or a `ConfigError` naming the file,
never another exception, and never slow."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cwsync.config import ConfigError, load_config, parse_config
from tests.config.test_config import GOOD
from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import json_values

ENV = {"CW_PRIVATE": "secret"}
YAML_BITS = [
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!tag ",
    "? ",
    ": ",
    "- ",
    "'",
    '"',
    "\t",
    "#",
    "%YAML",
]


def _check(text: str) -> None:
    started = time.process_time()
    error: ConfigError | None = None
    try:
        parse_config(text, path="fuzz.yaml", environ=ENV)
    except ConfigError as exc:
        error = exc
    assert error is None or (str(error).startswith("fuzz.yaml") and all(p.message for p in error.problems))
    assert time.process_time() - started < 2.0


@settings(FUZZ, max_examples=80)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
    | st.lists(st.sampled_from(YAML_BITS)).map("".join)
)
def test_any_text(text: str) -> None:
    """Arbitrary text and YAML punctuation soup."""
    _check(text)


@settings(FUZZ, max_examples=80)
@given(
    at=st.integers(min_value=0, max_value=len(GOOD)),
    cut=st.integers(min_value=0, max_value=20),
    insert=st.text(max_size=20) | st.sampled_from(YAML_BITS),
)
def test_mutated_good_file(at: int, cut: int, insert: str) -> None:
    """The documented example with a piece cut out and something else put in."""
    _check(GOOD[:at] + insert + GOOD[at + cut :])


@settings(FUZZ, max_examples=40)
@given(value=json_values, key=st.sampled_from(["store", "tenant", "server", "syncs", "connections", "version", "x"]))
def test_any_value_in_any_section(value: object, key: str) -> None:
    """Any JSON value (flow YAML is a superset) where a section or field is expected."""
    _check(
        GOOD + f"{key}: {json.dumps(value)}\n"
        if key not in GOOD
        else GOOD.replace(f"{key}:", f"{key}: {json.dumps(value)}\n_was_{key}:", 1)
    )


@settings(FUZZ, max_examples=40)
@given(raw=st.binary(max_size=200))
def test_any_bytes_from_a_file(tmp_path_factory: object, raw: bytes) -> None:
    """Any bytes on disk (invalid UTF-8, NULs, BOMs) through `load_config`."""
    path = Path(str(tmp_path_factory.mktemp("cfg"))) / "cwsync.yaml"  # type: ignore[attr-defined]
    path.write_bytes(GOOD.encode()[:40] + raw)
    error: ConfigError | None = None
    try:
        load_config(path, environ=ENV)
    except ConfigError as exc:
        error = exc
    assert error is None or str(error).startswith(str(path))
