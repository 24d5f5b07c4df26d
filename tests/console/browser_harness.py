"""The configuration screens' browser tests share the console's one harness (`live.py`: one `cwsync serve`, one
Chromium for every browser test module); these are its names as those tests use them."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.console.live import CHROMIUM, PRIVATE_KEY, Live, login, shot
from tests.console.live import until as _until

__all__ = ["BROWSER_MARKS", "PRIVATE_KEY", "Live", "_deny", "_until", "login", "shot"]

BROWSER_MARKS = [
    pytest.mark.loopback,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true", reason="no chromium"),
]
"""What every browser test module sets as its `pytestmark`."""


def _deny(live: Live, modules: list[str]) -> None:
    key = live.sandbox.sandbox.settings.public_key
    answer = httpx.put(f"{live.sandbox.base_url}/_sandbox/members/{key}/deny", json={"deny": modules})
    assert answer.status_code in (200, 204), answer.text
