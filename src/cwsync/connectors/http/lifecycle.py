"""The lifecycle every client shares: an `httpx.AsyncClient` it may own, closed when the client is."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class OwnsHttp:
    """Mixin: `async with Client(...)`; closes `self._http` on exit only if the client created it."""

    _http: httpx.AsyncClient
    _owns_http: bool

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()
