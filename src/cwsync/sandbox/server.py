"""Serving the emulators over real HTTP with uvicorn: in the foreground (CLI) or in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from cwsync.sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync.sandbox.faults import quiet_dropped_connections
from cwsync.sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app

HUBSPOT_PREFIX = "/hubspot"


@dataclass
class RunningSandbox:
    """A sandbox served on loopback: its base URL, its state, and the app."""

    base_url: str
    sandbox: Sandbox
    app: Starlette
    hubspot: HubSpotSandbox | None = None

    @property
    def hubspot_url(self) -> str:
        """The HubSpot emulator's base URL (what a HubSpot client takes as `base_url`)."""
        return self.base_url + HUBSPOT_PREFIX


def combined_app(cw: Sandbox, hubspot: HubSpotSandbox) -> Starlette:
    """Every emulator in one app: HubSpot under `/hubspot`, ConnectWise Manage at the root."""
    return Starlette(routes=[Mount(HUBSPOT_PREFIX, app=create_hubspot_app(hubspot)), Mount("", app=create_app(cw))])


def build_all(
    settings: SandboxSettings, hubspot: HubSpotSandboxSettings | None = None
) -> tuple[Sandbox, HubSpotSandbox, Starlette]:
    """Both emulators for a base URL, and the app serving them."""
    cw_box = build_sandbox(settings)
    hs_settings = (hubspot or HubSpotSandboxSettings()).model_copy(
        update={"base_url": settings.base_url.rstrip("/") + HUBSPOT_PREFIX}
    )
    hs_box = build_hubspot_sandbox(hs_settings)
    return cw_box, hs_box, combined_app(cw_box, hs_box)


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening socket (port 0 picks a free port); raises OSError with the reason if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose protocol says TCP, and without it a
    # reused connection holds each response ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app: Starlette, *, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for the app, without signal handlers (so it can run in a thread)."""
    quiet_dropped_connections()
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", timeout_keep_alive=30)
    return uvicorn.Server(config)


@contextmanager
def running_sandbox(
    settings: SandboxSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    hubspot: HubSpotSandboxSettings | None = None,
) -> Iterator[RunningSandbox]:
    """Serve the sandboxes (ConnectWise at the root, HubSpot under /hubspot) on loopback, in a background thread."""
    sock = bind(host, port)
    base_url = base_url_of(sock)
    settings = (settings or SandboxSettings()).model_copy(update={"base_url": base_url})
    box, hs_box, app = build_all(settings, hubspot)
    server = make_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(base_url=base_url, sandbox=box, app=app, hubspot=hs_box)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
