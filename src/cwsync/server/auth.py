"""The REST API's one access rule: `Authorization: Bearer <server.api_token>` on every `/api` route but health."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Header, HTTPException

from cwsync.config import Config

__all__ = ["api_guard"]


def api_guard(config: Config) -> list[Any]:
    """Route dependencies refusing (401) a request without the configured token; no token set refuses all."""

    def authorized(authorization: str | None = Header(default=None)) -> None:
        token = config.server.api_token.get_secret_value() if config.server.api_token else ""
        given = (authorization or "").removeprefix("Bearer ").strip()
        # Compared as bytes: the header arrives as any bytes (Latin-1 decoded); compare_digest refuses non-ASCII str.
        if not token or not hmac.compare_digest(given.encode("latin-1", errors="replace"), token.encode("utf-8")):
            raise HTTPException(401, "a valid API token is required (Authorization: Bearer <server.api_token>)")

    return [Depends(authorized)]
