"""Response bodies as JSON, decoded by orjson.

Decoding is most of what a read costs this process: a page of 1,000 ConnectWise configurations is ~1.9 MB of JSON,
~17–20 µs per record through the standard library's `json` and ~9 µs through orjson (measured on the sandbox's
pages; `benchmarks/stream_configurations.py`). Every synced record is decoded once, so the saving is per record
of every run (issue 19). orjson is strict JSON: it refuses `NaN`/`Infinity` (no API here sends them) and reads an
integer past 64 bits as a float (record ids are far below that). A body that declares a charset other than UTF-8
(none of the APIs does) is decoded as text by the standard library instead: orjson reads UTF-8 only.
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
