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

from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.faults import quiet_dropped_connections
from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app

HUBSPOT_PREFIX = "/hubspot"
HUDU_PREFIX = "/hudu"


@dataclass
class RunningSandbox:
    """A sandbox served on loopback: its base URL, its state, and the app."""

    base_url: str
    sandbox: Sandbox
    app: Starlette
    hubspot: HubSpotSandbox | None = None
    hudu: HuduSandbox | None = None

    @property
    def hubspot_url(self) -> str:
        """The HubSpot emulator's base URL (what a HubSpot client takes as `base_url`)."""
        return self.base_url + HUBSPOT_PREFIX

    @property
    def hudu_url(self) -> str:
        """The Hudu emulator's instance URL (what a Hudu client takes as `base_url`; the API is below `/api/v1`)."""
        return self.base_url + HUDU_PREFIX


def combined_app(cw: Sandbox, hubspot: HubSpotSandbox, hudu: HuduSandbox | None = None) -> Starlette:
    """Every emulator in one app: HubSpot under `/hubspot`, Hudu under `/hudu`, ConnectWise Manage at the root.

    The Hudu sandbox is also kept as `app.state.hudu` (a default one is made when none is given).
    """
    hudu_box = hudu or build_hudu_sandbox()
    app = Starlette(
        routes=[
            Mount(HUBSPOT_PREFIX, app=create_hubspot_app(hubspot)),
            Mount(HUDU_PREFIX, app=create_hudu_app(hudu_box)),
            Mount("", app=create_app(cw)),
        ]
    )
    app.state.hudu = hudu_box
    return app


def build_all(
    settings: SandboxSettings,
    hubspot: HubSpotSandboxSettings | None = None,
    hudu: HuduSandboxSettings | None = None,
) -> tuple[Sandbox, HubSpotSandbox, Starlette]:
    """Every emulator for a base URL, and the app serving them (the Hudu sandbox is `hudu_of(app)`)."""
    cw_box = build_sandbox(settings)
    base = settings.base_url.rstrip("/")
    hs_settings = (hubspot or HubSpotSandboxSettings()).model_copy(update={"base_url": base + HUBSPOT_PREFIX})
    hs_box = build_hubspot_sandbox(hs_settings)
    hudu_box = build_hudu_sandbox((hudu or HuduSandboxSettings()).model_copy(update={"base_url": base + HUDU_PREFIX}))
    return cw_box, hs_box, combined_app(cw_box, hs_box, hudu_box)


def hudu_of(app: Starlette) -> HuduSandbox:
    """The Hudu sandbox an app from `combined_app`/`build_all` serves."""
    box: HuduSandbox = app.state.hudu
    return box


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
    hudu: HuduSandboxSettings | None = None,
) -> Iterator[RunningSandbox]:
    """Serve the sandboxes (ConnectWise at the root, HubSpot under /hubspot, Hudu under /hudu) on loopback, in a
    background thread."""
    sock = bind(host, port)
    base_url = base_url_of(sock)
    settings = (settings or SandboxSettings()).model_copy(update={"base_url": base_url})
    box, hs_box, app = build_all(settings, hubspot, hudu)
    server = make_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(base_url=base_url, sandbox=box, app=app, hubspot=hs_box, hudu=hudu_of(app))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
