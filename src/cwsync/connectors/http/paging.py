"""A tiny paginator: remembers where the next page starts and refuses to read a page twice."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

import httpx

from cwsync.connectors.http.errors import PaginationLoopError

__all__ = ["Paginator", "next_link"]

Token = TypeVar("Token", bound=Hashable)


class Paginator(Generic[Token]):
    """Tracks the page token (page number, page id, cursor ...) of a stream.

    `advance(token)` moves to the next page; `advance(None)` ends the stream. Seeing a token twice raises
    `PaginationLoopError` instead of reading the same pages forever.
    """

    def __init__(self, start: Token, *, what: str = "pages") -> None:
        self.current: Token = start
        self.has_more = True
        self.pages_read = 0
        self._seen: set[Token] = {start}
        self._what = what

    def advance(self, token: Token | None) -> None:
        """Record that the current page was read and move to `token` (None: there is no next page)."""
        self.pages_read += 1
        if token is None:
            self.has_more = False
            return
        if token in self._seen:
            raise PaginationLoopError(
                f"paging {self._what} looped: the server pointed back at {token!r} after {self.pages_read} page(s)",
                hint="Run again; if it repeats, report it to the vendor with the request id.",
            )
        self._seen.add(token)
        self.current = token

    def stop(self) -> None:
        """End the stream (e.g. on an empty or short page)."""
        self.pages_read += 1
        self.has_more = False


def next_link(response: httpx.Response) -> str | None:
    """The `rel="next"` URL of an RFC 8288 `Link` header, if any."""
    link = response.links.get("next")
    return link.get("url") if link else None
