"""`IntakeServer` over real HTTP: webhooks are served on its own thread, everything else on the caller's loop (bodies
and errors carried across), it stops when told, and a port already taken is raised, not swallowed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cwsync.server.intake import IntakeServer
from tests.loopback import free_port

WAIT = 30.0


async def _where(request: Request) -> Response:
    return PlainTextResponse(threading.current_thread().name)


async def _echo(request: Request) -> Response:
    return PlainTextResponse((await request.body()).decode() + " on " + threading.current_thread().name)


async def _boom(request: Request) -> Response:
    raise RuntimeError("a handler's bug")


APP = Starlette(
    routes=[
        Route("/where", _where),
        Route("/echo", _echo, methods=["POST"]),
        Route("/boom", _boom),
        Route("/hooks/where", _where, methods=["POST"]),
        Route("/t/acme/hooks/where", _where, methods=["POST"]),
    ]
)


@pytest.fixture
async def served() -> AsyncIterator[str]:
    port = free_port()
    web = IntakeServer(APP, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    serving = asyncio.create_task(web.serve())
    deadline = time.monotonic() + WAIT
    while not web.started:  # polled with a deadline: uvicorn offers no event for it
        assert not serving.done(), "the server stopped at its start"
        assert time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        await asyncio.wait_for(serving, WAIT)
        assert web.thread is not None
        assert not web.thread.is_alive()


async def test_webhooks_run_on_the_intake_thread_and_the_rest_on_the_callers_loop(served: str) -> None:
    main = threading.current_thread().name
    async with httpx.AsyncClient(base_url=served, timeout=WAIT) as http:
        assert (await http.post("/hooks/where")).text == "cwsync-http"
        assert (await http.post("/t/acme/hooks/where")).text == "cwsync-http"  # a tenant's, under /t/<tenant>
        assert (await http.get("/where")).text == main
        echoed = await http.post("/echo", content=b"x" * 100_000)  # a body in several messages, carried across
        assert echoed.text == "x" * 100_000 + " on " + main


async def test_an_error_on_the_callers_loop_is_a_500_and_serving_goes_on(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=WAIT) as http:  # uvicorn closes that connection after it
        assert (await http.get("/boom")).status_code == 500
    async with httpx.AsyncClient(base_url=served, timeout=WAIT) as http:
        assert (await http.get("/where")).status_code == 200


def test_a_port_already_taken_ends_the_serving_loop_as_uvicorn_does() -> None:
    """uvicorn exits (`SystemExit`) when it cannot listen; off its thread that reaches the caller's loop, as it did
    when uvicorn ran there (`cwsync serve` stops with uvicorn's logged reason)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = IntakeServer(APP, host="127.0.0.1", port=port, log_level="critical", lifespan="off")

        async def serving() -> BaseException | None:
            # caught in this coroutine: a task that died by SystemExit would be logged ("exception never
            # retrieved") whenever the collector finds it, into whatever test runs then
            try:
                async with asyncio.timeout(WAIT):
                    await web.serve()
            except SystemExit as exc:
                return exc
            return None

        assert isinstance(asyncio.run(serving()), SystemExit)
