"""A pair's links as a run reconciles them: the store's links table (`StoreLinks`), the links a full read missed
(`unread_links`) and which of their records the source still has (`present_ids`); what the one-way and the two-way
loops share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

from cwsync.engine.pair import Links, Source
from cwsync.store import Link, Store

__all__ = ["EARLIEST", "OUT_OF_SCOPE", "StoreLinks", "present_ids", "unread_links"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""A failed record whose change time is unknown holds the cursor here: the next run reads everything again."""
OUT_OF_SCOPE = (
    "not read by this full run but still in ConnectWise (outside the run's scope): kept in {target} as it is,"
    " not {deleted}"
)
"""Why a linked record a full read did not return, and that ConnectWise still has, is left alone."""


async def unread_links(
    links: Links, missed: Callable[[str, str], bool], *, known: int | None = None
) -> tuple[list[Link], int]:
    """After a full read: the links it missed (`missed(left id, right id)`: the read did not return that side's
    record), and how many links the pair has.

    `known`: how many of the pair's links the read accounted for (when the caller counted them): when the pair has
    just as many, it missed none, and the links are not scanned (the common case)."""
    total = await links.count()
    if total == 0 or total == known:
        return [], total
    found: list[str] = []
    async for batch in links.ids():
        found.extend(left_id for left_id, right_id in batch if missed(left_id, right_id))
    return (list((await links.by_left(found)).values()) if found else []), total


async def present_ids(source: Source, ids: Sequence[str]) -> set[str]:
    """Which of these ids the source still has, whatever its reads' scope (its `confirm`, else `get_many`)."""
    confirm = getattr(source, "confirm", None)
    if confirm is not None:
        return {str(i) for i in await confirm(ids)}
    return {str(raw["id"]) for raw in await source.get_many(ids)}


class StoreLinks:
    """A pair's links in the store's links table (every pair's but those whose target holds them, `Pair.links`)."""

    def __init__(self, store: Store, tenant: str, pair: str) -> None:
        self.store, self.tenant, self.pair = store, tenant, pair

    async def by_left(self, ids: Sequence[str]) -> dict[str, Link]:
        return await self.store.links_by_left(self.tenant, self.pair, ids)

    async def count(self) -> int:
        return await self.store.link_count(self.tenant, self.pair)

    def ids(self) -> AsyncIterator[list[tuple[str, str]]]:
        return self.store.iter_link_ids(self.tenant, self.pair)
