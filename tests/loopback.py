"""What the tests that run cwsync on real sockets share: a free port, and polling with a deadline (no fixed sleeps)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Poll `check()` until it is true; fail naming `what` once `timeout` seconds have gone by."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
