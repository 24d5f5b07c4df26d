"""Response bodies as JSON, decoded by orjson.

Decoding is most of what a read costs this process: a page of 1,000 ConnectWise configurations is ~1.9 MB of JSON.
Measured on the sandbox's pages (best of 12, with a realistic heap): the standard library's `json` 20.9 µs per
record, orjson 16.4 (`benchmarks/stream_configurations.py`: the client's CPU per record 37 → 29 µs). Every synced
record is decoded once, so the saving is per record of every run (issue 19). About half of what is left is the
cyclic garbage collector, which passes over the page's tens of thousands of new (all alive) containers while it is
decoded: pausing it during the decoding measured 9.0 µs per record, but the client's peak RSS then grew with the
record count (1.25× at 100k records against 10k, where the target is flat), although the cyclic garbage a page
leaves is only ~9 KB; that is not done until the growth is understood.

orjson is strict JSON: it refuses `NaN`/`Infinity` (no API here sends them) and reads an integer past 64 bits as a
float (record ids are far below that). A body that declares a charset other than UTF-8 (none of the APIs does) is
decoded as text by the standard library instead: orjson reads UTF-8 only.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson

__all__ = ["json_of"]

_UTF8 = frozenset({"utf-8", "utf8"})


def json_of(response: httpx.Response) -> Any:
    """The response's body parsed as JSON.

    Raises:
        json.JSONDecodeError: the body is not JSON (a `ValueError`; orjson's error is a subclass of it).
    """
    charset = response.charset_encoding
    if charset is None or charset.lower() in _UTF8:
        return orjson.loads(response.content)
    return json.loads(response.text)
