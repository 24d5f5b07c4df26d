"""Hostile values for the fuzz suite: any JSON (with the numbers and shapes that broke things), any bytes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NASTY_NUMBERS = st.sampled_from([0, -1, -5, 1, 2**31, 2**31 - 1, 2**63, 10**20, 10**30, 1.5, -0.0, 1e308, True, False])
NASTY_TEXT = st.sampled_from(
    ["", " ", "NaN", "Infinity", "1e999", "٣", "²", "-5", "0", "\x00", "é", "9" * 30, "[", '"']
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    NASTY_NUMBERS,
    NASTY_TEXT,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)

RAW_TRICKS = [
    b"",
    b"NaN",
    b"[Infinity]",
    b'{"a": 1e999}',
    b"[" * 5000,
    b"{" * 3000,
    b"\xff\xfe",
    b'{"ids": [' + b"9" * 5000 + b"]}",
    b"[1,]",
    b'{"a": "\\ud800"}',
    b"\x00",
]
raw_bodies = st.one_of(st.binary(max_size=300), st.sampled_from(RAW_TRICKS))
header_bytes = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    NASTY_TEXT.map(lambda t: t.encode("utf-8")),
)
