"""Faults on demand: latency, 429s, 5xx, dropped connections and slow bodies, changeable while running.

The fault layer is ASGI middleware in front of the API routes only (the admin endpoints under `/_sandbox` stay
healthy, so a test can always turn faults off again). Draws come from a seeded RNG, so a run is repeatable. Every
emulator uses it, each with its own error bodies (`ErrorBodies`), since a 429 from ConnectWise and one from HubSpot
do not look alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the emulator to cut a connection mid-response.

    It subclasses httpx's own error so that a client driving the emulator in-process (ASGI transport) sees exactly
    what it would see over a socket: the peer closed the connection without a complete message.
    """

    def __init__(self) -> None:
        super().__init__("sandbox fault: connection dropped")


class FaultSettings(BaseModel):
    """What to inject; every share is a probability per API request (0 = never)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(0, ge=0, le=60_000, description="added to every API request")
    rate_limit_share: float = Field(0, ge=0, le=1, description="answer 429 with Retry-After")
    retry_after: int = Field(1, ge=0, le=3600, description="seconds sent in Retry-After")
    error_share: float = Field(0, ge=0, le=1, description="answer a 5xx from error_statuses")
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    drop_share: float = Field(0, ge=0, le=1, description="drop the connection before the request is processed")
    lost_response_share: float = Field(0, ge=0, le=1, description="process the request, then drop the response")
    slow_ms: float = Field(0, ge=0, le=60_000, description="trickle each response body over this long")
    throttle_per_minute: int | None = Field(None, ge=1, description="429 above this many requests a minute")
    seed: int = 0


@dataclass
class FaultCounters:
    """How many of each fault were injected (served at /_sandbox/faults)."""

    requests: int = 0
    latency: int = 0
    rate_limited: int = 0
    errors: int = 0
    dropped: int = 0
    lost_responses: int = 0
    throttled: int = 0
    window: deque[float] = field(default_factory=deque)

    def as_dict(self) -> dict[str, int]:
        """The counters without the throttle window."""
        data = asdict(self)
        data.pop("window")
        return data


class FaultState:
    """The current fault settings, their RNG and counters."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.counters = FaultCounters()
        self.update(settings or FaultSettings())

    def update(self, settings: FaultSettings) -> None:
        """Replace the settings (and reseed)."""
        self.settings = settings
        self.rng = random.Random(settings.seed)

    def draw(self, share: float) -> bool:
        """True with probability `share`."""
        return share > 0 and self.rng.random() < share

    def throttled(self, now: float) -> bool:
        """Sliding one-minute window against `throttle_per_minute`."""
        limit = self.settings.throttle_per_minute
        if limit is None:
            return False
        window = self.counters.window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def quiet_dropped_connections() -> None:
    """Keep uvicorn from printing a traceback for every connection the emulator drops on purpose."""
    logging.getLogger("uvicorn.error").addFilter(_DropFilter())


@dataclass(frozen=True)
class ErrorBodies:
    """How an emulated API words a 429 and a 5xx (and which extra headers a 429 carries)."""

    too_many: Callable[[int], dict[str, Any]]
    server_error: Callable[[int], dict[str, Any]]
    too_many_headers: Callable[[int], list[tuple[bytes, bytes]]] = lambda retry_after: [
        (b"retry-after", str(retry_after).encode())
    ]


class FaultMiddleware:
    """Applies `FaultState` to requests whose path (below the mount point) `applies_to` accepts."""

    def __init__(
        self, app: ASGIApp, state: FaultState, *, applies_to: Callable[[str], bool], bodies: ErrorBodies
    ) -> None:
        self.app = app
        self.state = state
        self.applies_to = applies_to
        self.bodies = bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not self.applies_to(path):
            await self.app(scope, receive, send)
            return
        state, settings = self.state, self.state.settings
        state.counters.requests += 1
        if settings.latency_ms:
            state.counters.latency += 1
            await asyncio.sleep(settings.latency_ms / 1000)
        throttled = state.throttled(asyncio.get_running_loop().time())
        if throttled or state.draw(settings.rate_limit_share):
            if throttled:
                state.counters.throttled += 1
            else:
                state.counters.rate_limited += 1
            retry_after = settings.retry_after
            await _respond(send, 429, self.bodies.too_many(retry_after), self.bodies.too_many_headers(retry_after))
            return
        if state.draw(settings.error_share):
            state.counters.errors += 1
            status = state.rng.choice(settings.error_statuses or [500])
            await _respond(send, status, self.bodies.server_error(status), [])
            return
        if state.draw(settings.drop_share):
            state.counters.dropped += 1
            await _drop(send)
        lose = state.draw(settings.lost_response_share)
        if lose:
            state.counters.lost_responses += 1
        await self.app(scope, receive, _Shaper(send, lose=lose, slow_ms=settings.slow_ms))


async def _respond(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    raw = json.dumps(body).encode()
    head = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(raw)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": raw})


async def _drop(send: Send) -> None:
    """Start a response that promises more bytes than it sends, then cut the connection."""
    head = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": head})
    await send({"type": "http.response.body", "body": b"[", "more_body": True})
    raise DroppedConnection()


class _Shaper:
    """Wraps `send` to lose the response after processing, or trickle the body slowly."""

    def __init__(self, send: Send, *, lose: bool, slow_ms: float) -> None:
        self.send = send
        self.lose = lose
        self.slow_ms = slow_ms

    async def __call__(self, message: Message) -> None:
        if self.lose and message["type"] == "http.response.start":
            await _drop(self.send)
        if self.slow_ms and message["type"] == "http.response.body" and message.get("body"):
            await self._trickle(message)
            return
        await self.send(message)

    async def _trickle(self, message: Message) -> None:
        body: bytes = message["body"]
        chunks = 10
        step = max(1, len(body) // chunks)
        pieces = [body[i : i + step] for i in range(0, len(body), step)]
        for index, piece in enumerate(pieces):
            await asyncio.sleep(self.slow_ms / 1000 / len(pieces))
            last = index == len(pieces) - 1
            await self.send(
                {
                    "type": "http.response.body",
                    "body": piece,
                    "more_body": message.get("more_body") or not last,
                }
            )
