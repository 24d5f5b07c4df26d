"""What one request to `cwsync serve` may carry, enforced before any route runs (issue 20, docs/security.md).

::

    BodyLimit          ASGI middleware: at most `server.limits.webhook_body_bytes` under /hooks/, at most
                       `api_body_bytes` elsewhere; a larger `Content-Length` is refused before a byte is read, a
                       body that grows past the limit is refused as soon as it does (413), a malformed
                       `Content-Length` or `Transfer-Encoding` mix is 400
    SafeJSONRoute      the app's route class: bodies FastAPI parses as JSON go through `cwsync.core.safejson`
                       (depth, `NaN`/`Infinity`, 64-bit integers): 400 `body_not_json` with the reason
    refusal(...)       the JSON error every refusal answers: {"error": code, "reason": text}
    MAX_ID             the largest id or offset a route takes (SQLite's and PostgreSQL's bigint)

Webhook bodies are not parsed here: `cwsync.runtime.intake` checks their signature on the raw bytes first.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cwsync.core import safejson

__all__ = ["MAX_ID", "BodyLimit", "BodyRefused", "SafeJSONRoute", "refusal"]

MAX_ID = safejson.MAX_INT
"""The largest run id, record id or offset a route accepts (larger ones overflow the database's integers)."""

WEBHOOK_PREFIX = "/hooks/"


def refusal(status: int, code: str, reason: str) -> JSONResponse:
    """The JSON answer of a refused request."""
    return JSONResponse({"error": code, "reason": reason}, status_code=status)


class BodyRefused(HTTPException):
    """A request body refused while a route reads it (answered by `body_refused` as `refusal(...)`)."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(status, reason)
        self.code = code
        self.reason = reason


async def body_refused(_: Request, exc: Exception) -> Response:
    """The exception handler of `BodyRefused`."""
    assert isinstance(exc, BodyRefused)
    return refusal(exc.status_code, exc.code, exc.reason)


class BodyLimit:
    """ASGI middleware bounding request bodies per path (see the module docstring).

    The body is read here (at most `limit + 1` bytes) and handed to the app in one message, so nothing behind it
    ever holds more than the limit.
    """

    def __init__(self, app: ASGIApp, *, webhook_bytes: int, api_bytes: int) -> None:
        self.app = app
        self.webhook_bytes = webhook_bytes
        self.api_bytes = api_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.webhook_bytes if path.startswith(WEBHOOK_PREFIX) else self.api_bytes
        problem = _declared_length_problem(scope, limit)
        if problem is not None:
            await _answer(scope, receive, send, *problem)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > limit:
                await _answer(scope, receive, send, *_too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _declared_length_problem(scope: Scope, limit: int) -> tuple[int, str, str] | None:
    lengths = [value for name, value in scope.get("headers", []) if name.lower() == b"content-length"]
    if not lengths:
        return None
    if len(set(lengths)) > 1 or not all(v.isdigit() and len(v) <= 19 for v in lengths):
        return 400, "bad_content_length", "Content-Length must be one non-negative integer"
    if int(lengths[0]) > limit:
        return _too_large(limit)
    return None


def _too_large(limit: int) -> tuple[int, str, str]:
    return 413, "body_too_large", f"the request body is larger than this route's limit of {limit} bytes"


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, code: str, reason: str) -> None:
    await refusal(status, code, reason)(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


class _SafeJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            depth = getattr(self.app.state, "json_depth", safejson.MAX_DEPTH) if "app" in self.scope else None
            try:
                self._json = safejson.loads(await self.body(), max_depth=depth or safejson.MAX_DEPTH)
            except safejson.JSONRefused as exc:
                raise BodyRefused(400, "body_not_json", f"{exc} ({exc.reason})") from None
        return self._json


class SafeJSONRoute(APIRoute):
    """An APIRoute whose JSON bodies are read by `cwsync.core.safejson` (set as the app's `router.route_class`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe_handler(request: Request) -> Response:
            return await handler(_SafeJSONRequest(request.scope, request.receive, request._send))

        return safe_handler
