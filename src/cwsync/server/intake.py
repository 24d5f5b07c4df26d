"""HTTP on a thread of its own: webhooks are answered whatever the engine is doing (issue 19).

A callback that ConnectWise does not see answered in time is a change lost until the next scheduled run, and on
one event loop a webhook waits for whatever the engine does between two awaits (planning a batch of records,
encoding a page): under contention that was seconds. `IntakeServer` runs uvicorn on an event loop in a thread of
its own. Webhooks (`/hooks/...`, `/t/<tenant>/hooks/...`) are served on that loop from start to answer —
signature, de-duplication, and the job committed by the accept writer (`runtime/accept.py`), which answers each
waiter on its own loop — so the engine's loop never stands between a callback and its 2xx. Every other request
(the REST API, the console, probes) is handed to the main loop, where the store's and the clients' connections
live, and its messages are carried back and forth (`_bridged`).

Python runs one thread at a time, so this bounds a webhook's wait by the interpreter's switch interval (5 ms) rather
than by the longest stretch the engine runs without awaiting; it does not add CPU. What a webhook needs from the
main loop is sent there only when it must be: a signing key not cached yet (`SigningKeys.home`) and, on PostgreSQL,
the enqueue itself (`ProcrastinateRunner.enqueue`).

::

    web = IntakeServer(app, host=..., port=..., lifespan="off")   # uvicorn.Config's settings
    task = asyncio.create_task(web.serve())   # returns once uvicorn has stopped (web.should_exit = True)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HOOK_PATH", "IntakeServer", "LoopSplit"]

T = TypeVar("T")
HOOK_PATH = re.compile(r"^(?:/t/[^/]+)?/hooks/")
"""The paths served on the intake loop: a tenant's webhooks, at the root or under `/t/<tenant>`."""


class LoopSplit:
    """The ASGI app uvicorn serves on the intake loop: webhooks run here, anything else on `home` (the main loop)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.home: asyncio.AbstractEventLoop | None = None
        """The main loop (set by `IntakeServer.serve`; None: everything runs here)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.home is None or (scope["type"] == "http" and HOOK_PATH.match(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        await _bridged(self.app, self.home, scope, receive, send)


async def _bridged(app: ASGIApp, home: asyncio.AbstractEventLoop, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app` for this request on `home`; its `receive` and `send` are carried out here, on uvicorn's loop."""
    here = asyncio.get_running_loop()

    async def received() -> Message:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(receive()), here))

    async def sent(message: Message) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(send(message)), here))

    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(app(scope, received, sent)), home))


async def _awaited(step: Awaitable[T]) -> T:
    return await step


class _Uvicorn(uvicorn.Server):
    """uvicorn without signal handling (it installs none off the main thread anyway): the caller stops it, so that
    cwsync drains after it (`server/run.py`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class IntakeServer:
    """uvicorn serving `config.app` on a thread and event loop of its own, webhooks answered there (module doc).

    `serve` returns when uvicorn stops (`should_exit = True`, as for `uvicorn.Server`) and raises what stopped it
    (a port already taken: uvicorn's `SystemExit`). uvicorn installs no signal handler off the main thread: the
    caller keeps its own.
    """

    def __init__(self, app: ASGIApp, **settings: Any) -> None:
        """Serve `app` with these `uvicorn.Config` settings (host, port, log_level, ...)."""
        self.split = LoopSplit(app)
        self._server = _Uvicorn(uvicorn.Config(self.split, **settings))
        self._thread: threading.Thread | None = None

    @property
    def should_exit(self) -> bool:
        """Set it to stop serving (uvicorn looks at it every 0.1 s)."""
        return self._server.should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    @property
    def started(self) -> bool:
        """Whether uvicorn listens now."""
        return bool(self._server.started)

    @property
    def thread(self) -> threading.Thread | None:
        """The thread serving (None before `serve`)."""
        return self._thread

    async def serve(self) -> None:
        """Serve until `should_exit`; cancelled, it stops uvicorn and waits for its thread first."""
        home = asyncio.get_running_loop()
        self.split.home = home
        done: asyncio.Future[None] = home.create_future()

        def finished(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def run() -> None:
            error: BaseException | None = None
            try:
                asyncio.run(self._server.serve())
            except BaseException as exc:  # SystemExit from a failed bind included: raised by `serve`, below
                error = exc
            with contextlib.suppress(RuntimeError):  # the main loop is closed: nobody waits any more
                home.call_soon_threadsafe(finished, error)

        self._thread = threading.Thread(target=run, name="cwsync-http", daemon=True)
        self._thread.start()
        try:
            await asyncio.shield(done)  # what stopped uvicorn is raised here
        except asyncio.CancelledError:
            if not done.done():
                self._server.should_exit = True
                await asyncio.to_thread(self._thread.join)
            raise
        finally:
            if done.done():  # the thread answered and is ending: once `serve` returns, it has ended
                await asyncio.to_thread(self._thread.join)
