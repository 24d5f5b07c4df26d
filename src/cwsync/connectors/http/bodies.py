"""Response bodies as JSON: decoded by orjson, with the cyclic garbage collector paused for a large body.

Decoding is most of what a read costs this process: a page of 1,000 ConnectWise configurations is ~1.9 MB of JSON.
Measured on the sandbox's pages (best of 12, a realistic heap, load ~4.6): the standard library's `json` 20.9 µs
per record, orjson 16.4, `json` with the collector paused 16.9, **orjson with it paused 9.0**. The collector's
share is large because a page becomes tens of thousands of dicts and lists at once: every 700 allocations start
a young collection over objects that are all alive, and the middle and old generations' passes follow. A JSON
document decodes to a tree (no reference cycles), so no collection during its decoding can free anything: pausing
it there skips only useless passes; it runs again as soon as the body is decoded (and is left alone if the
process had turned it off). Small bodies (under `PAUSE_FROM` bytes) are decoded as they come. The passes skipped
were also what freed httpx's responses (a response and its stream refer to each other): with fewer of them, pages
piled up (peak RSS 1.25× at 100k records against 10k); `transport._release` breaks that cycle, so a response is
freed when its last user drops it, whatever the collector does.

orjson is strict JSON: it refuses `NaN`/`Infinity` (no API here sends them) and reads an integer past 64 bits as a
float (record ids are far below that). A body that declares a charset other than UTF-8 (none of the APIs does) is
decoded as text by the standard library instead: orjson reads UTF-8 only.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import httpx
import orjson

__all__ = ["PAUSE_FROM", "json_body", "json_of"]

PAUSE_FROM = 64 * 1024
"""Bodies at least this large (bytes) are decoded with the collector paused."""

_UTF8 = frozenset({"utf-8", "utf8"})


def json_of(response: httpx.Response) -> Any:
    """The response's body parsed as JSON.

    Raises:
        json.JSONDecodeError: the body is not JSON (a `ValueError`; orjson's error is a subclass of it).
    """
    content = response.content
    paused = len(content) >= PAUSE_FROM and gc.isenabled()
    if paused:
        gc.disable()
    try:
        charset = response.charset_encoding
        if charset is None or charset.lower() in _UTF8:
            return orjson.loads(content)
        return json.loads(response.text)
    finally:
        if paused:
            gc.enable()


def json_body(value: Any) -> bytes:
    """A request's JSON body as httpx's `json=` makes it (compact, UTF-8, no NaN), encoded by orjson: a batch of
    100 HubSpot inputs was 2% of a first sync's CPU through the standard library. A value orjson refuses (keys that
    are not texts, integers past 64 bits) goes through `json` as httpx would have sent it."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
