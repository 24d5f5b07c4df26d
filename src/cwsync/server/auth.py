"""The REST API's one access rule: `Authorization: Bearer <server.api_token>` on every `/api` route but health."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cwsync.config import Config

__all__ = ["BEARER", "api_guard"]

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <server.api_token>` (every /api route but /api/health)",
)
"""The scheme the OpenAPI document declares (so /docs has an Authorize button); the check is `api_guard`'s."""


def api_guard(config: Config) -> list[Any]:
    """Route dependencies refusing (401) a request without the configured token; no token set refuses all."""

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        token = config.server.api_token.get_secret_value() if config.server.api_token else ""
        given = credentials.credentials.strip() if credentials is not None else ""
        # Compared as bytes: the header arrives as any bytes (Latin-1 decoded); compare_digest refuses non-ASCII str.
        if not token or not hmac.compare_digest(given.encode("latin-1", errors="replace"), token.encode("utf-8")):
            raise HTTPException(401, "a valid API token is required (Authorization: Bearer <server.api_token>)")

    return [Depends(authorized)]
