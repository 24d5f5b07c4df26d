"""Awaiting work on the event loop that owns it, from another loop (issue 19: webhooks on a thread of their own).

`cwsync serve` answers webhooks on an event loop of its own thread (`cwsync.server.intake`), so a webhook is
answered whatever the engine does on the main loop. Most of what a webhook does is safe from there (parsing, the
signature, de-duplication, the group-committed accept of `runtime/accept.py`); what is not — a connection pool or an
HTTP client opened on the main loop (a signing-key fetch, a PostgreSQL enqueue) — is sent home with `on_loop`::

    result = await on_loop(home, fetch(url))   # runs fetch() on `home`; at once when already there
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["current_loop", "on_loop"]

T = TypeVar("T")


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None (synchronous code)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def on_loop(home: asyncio.AbstractEventLoop | None, work: Coroutine[Any, Any, T]) -> T:
    """Await `work` on `home` (None, or the running loop: here), the caller's loop free meanwhile.

    Cancelling the caller cancels `work` on its loop too (`asyncio.run_coroutine_threadsafe`'s future).
    """
    if home is None or home is current_loop():
        return await work
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, home))
