"""The edges of `cwsync serve` (issue 20, docs/security.md): body limits, safe JSON, security headers, CORS only when
configured, JSON errors that always serialise, and no 500 page or traceback for anything a client sends.

`harden(app, config)` installs all of it on the FastAPI app, before its routes are added::

    app = FastAPI(...)
    harden(app, config)      # route class, exception handlers, middleware
    ...add routes...

Every answer carries `Content-Security-Policy` (no inline script but the hashed ones of the page itself, framing
refused), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`; API
answers also `Cache-Control: no-store`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cwsync.config import Config
from cwsync.server.limits import BodyLimit, BodyRefused, SafeJSONRoute, body_refused, refusal

__all__ = ["API_CSP", "DOCS_ASSET_SOURCES", "SecurityHeaders", "harden", "page_csp"]

log = structlog.get_logger("cwsync.server")

DOCS_ASSET_SOURCES: tuple[str, ...] = ()
"""Where /docs and /redoc load Swagger UI and ReDoc from besides this server: nowhere, they are served locally
(fastapi-offline)."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The policy of every answer that is not an HTML page (JSON, redirects, errors)."""

_BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_MAX_ECHO = 256


def page_csp(html: bytes) -> str:
    """The policy of an HTML page: scripts from here (and the docs assets), inline ones only by their hash."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    assets = " ".join(DOCS_ASSET_SOURCES)
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *hashes, assets]).strip(),
            f"style-src 'self' 'unsafe-inline' {assets}".strip(),
            "img-src 'self' data:",
            "font-src 'self'",
            "worker-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: the security headers on every answer, and a JSON 500 (logged, no traceback sent, the
    connection kept) should a route fail anyway."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")
        started = False
        held: Message | None = None
        page: list[bytes] = []

        async def secured(message: Message) -> None:
            nonlocal started, held
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                if _is_html(headers):
                    held = {**message, "headers": headers}
                    return
                await send({**message, "headers": _with_security(headers, API_CSP, api=api)})
            elif message["type"] == "http.response.body" and held is not None:
                page.append(bytes(message.get("body", b"")))
                if message.get("more_body", False):
                    return
                html = b"".join(page)
                headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(html)).encode()))
                await send({**held, "headers": _with_security(headers, page_csp(html), api=api)})
                await send({"type": "http.response.body", "body": html, "more_body": False})
            else:
                await send(message)

        try:
            await self.app(scope, receive, secured)
        except Exception:
            log.exception("server.error", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise  # half an answer is out: let the server drop the connection
            await refusal(500, "internal", "the server failed on this request (see its log)")(scope, receive, secured)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in headers)


def _with_security(headers: list[tuple[bytes, bytes]], csp: str, *, api: bool) -> list[tuple[bytes, bytes]]:
    names = {k.lower() for k, _ in headers}
    out = [*headers, (b"content-security-policy", csp.encode("ascii"))]
    out += [(k, v) for k, v in _BASE_HEADERS if k not in names]
    if api and b"cache-control" not in names:
        out.append((b"cache-control", b"no-store"))
    return out


async def validation_failed(_: Request, exc: Exception) -> Response:
    """FastAPI's 422, with what it echoes made JSON-safe (bytes, non-finite numbers) and short."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _json_safe(exc.errors())}, status_code=422)


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > 16:
        return "…"
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value[:_MAX_ECHO]]
    if isinstance(value, bytes | bytearray):
        value = bytes(value[:_MAX_ECHO]).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value if len(value) <= _MAX_ECHO else value[:_MAX_ECHO] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        return _json_safe(jsonable_encoder(value), depth + 1)
    except Exception:  # an object that cannot be encoded is named, not echoed
        return type(value).__name__


def harden(app: FastAPI, config: Config) -> None:
    """Install the limits, safe JSON, error handlers, security headers and (when configured) CORS on `app`."""
    limits = config.server.limits
    app.router.route_class = SafeJSONRoute
    app.state.json_depth = limits.json_depth
    app.add_exception_handler(BodyRefused, body_refused)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_middleware(BodyLimit, webhook_bytes=limits.webhook_body_bytes, api_bytes=limits.api_body_bytes)
    if config.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.rstrip("/") for o in config.server.cors_origins],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders)
