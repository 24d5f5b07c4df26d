"""Reading pages: one page ahead, ConnectWise's `lastUpdated`, and per-side watermarks capped by the run's start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from cwsync.store import Store

__all__ = [
    "Cursors",
    "IdSet",
    "ReadAhead",
    "Watermark",
    "chunks",
    "cursor_moment",
    "cursor_value",
    "last_updated",
    "newest_update",
    "parse_moment",
]

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Pages of `pages`, each read while the previous one is used: the read starts as soon as this is made.

    One page ahead, so memory stays bounded. The ConnectWise read of page k+1 overlaps the writes of page k, and a
    pair's first page can be read while the pair before it finishes; reading early is harmless because a cursor
    never moves past its pair's start. `close()` stops a read still under way.
    """

    def __init__(self, pages: AsyncIterator[T]) -> None:
        self._pages = pages
        self._pending: asyncio.Future[T] | None = asyncio.ensure_future(anext(pages))

    def __aiter__(self) -> ReadAhead[T]:
        return self

    async def __anext__(self) -> T:
        if self._pending is None:
            raise StopAsyncIteration
        try:
            page = await self._pending
        except StopAsyncIteration:
            self._pending = None
            raise
        except BaseException:
            self._pending = None
            raise
        self._pending = asyncio.ensure_future(anext(self._pages))
        return page

    async def close(self) -> None:
        """Stop reading (a page under way is dropped)."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        close = getattr(self._pages, "aclose", None)
        if close is not None:
            await close()


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, in order."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def parse_moment(text: Any) -> datetime | None:
    """An ISO-8601 moment (`Z` or an offset; naive is taken as UTC) as an aware datetime, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cursor_value(moment: datetime, scope: str | None) -> str:
    """A cursor as stored: the moment, kept with the scope it is valid for (a digest of what decides the records:
    filters, ...) when there is one."""
    value = moment.isoformat()
    return value if scope is None else json.dumps({"since": value, "key": scope})


def cursor_moment(value: str | None, scope: str | None) -> datetime | None:
    """Where an incremental read may start, from a stored cursor: None (read everything) when there is none, or it
    was kept with another scope (the filters changed: every record must be decided again)."""
    if not value:
        return None
    if scope is None:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    try:
        data = json.loads(value)
        moment = datetime.fromisoformat(data["since"])
    except (ValueError, KeyError, TypeError):
        return None
    return moment if data.get("key") == scope else None


def last_updated(record: Mapping[str, Any]) -> datetime | None:
    """A ConnectWise record's `_info.lastUpdated` as an aware datetime (None when absent or unreadable)."""
    info = record.get("_info")
    if type(info) is dict or isinstance(info, Mapping):  # decoded JSON: a dict, told without the ABC's check
        return parse_moment(info.get("lastUpdated"))
    return None


def newest_update(records: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The newest `_info.lastUpdated` of these ConnectWise records (`max` of `last_updated`, None when none has one).

    ConnectWise writes its moments in one fixed-width form, `2026-01-02T03:04:05Z`, whose order as text is their
    order in time: the newest text is found first and only it is parsed (a thousand records' times each parsed were
    a watermark's whole cost). Records with a moment in any other form (or none) are all read one by one."""
    best = ""
    for record in records:
        info = record.get("_info")
        text = info.get("lastUpdated") if type(info) is dict else None
        if (
            type(text) is not str
            or len(text) != 20
            or text[19] != "Z"
            or text[10] != "T"
            or text[4] != "-"
            or text[7] != "-"
            or text[13] != ":"
            or text[16] != ":"
        ):
            return _newest_of_each(records)
        if text > best:
            best = text
    if not best:
        return None
    moment = parse_moment(best)
    return moment if moment is not None else _newest_of_each(records)  # the newest text is no moment: read each


def _newest_of_each(records: Iterable[Mapping[str, Any]]) -> datetime | None:
    newest: datetime | None = None
    for record in records:
        moment = last_updated(record)
        if moment is not None and (newest is None or moment > newest):
            newest = moment
    return newest


class Watermark:
    """The newest change a run has seen on one side, never later than the run's start.

    A cursor moves to it only after the run completed, so a killed run re-reads from the old cursor; capping by the
    start keeps a change made during the run (with an earlier stamp than others read) from being skipped.
    """

    def __init__(self, started: datetime, current: datetime | None = None) -> None:
        self.started = started
        self.newest = current
        self.held: datetime | None = None
        """The oldest change the next run must read again (see `hold`)."""

    def seen(self, moment: datetime | None) -> None:
        """Count a change made at `moment`."""
        if moment is not None:
            moment = min(moment, self.started)
            self.newest = moment if self.newest is None else max(self.newest, moment)

    def hold(self, moment: datetime | None) -> None:
        """A record changed at `moment` was not written (it failed, or waits for a parent that failed): the next
        run must read it again, so the cursor does not move past `moment`."""
        if moment is not None:
            self.held = moment if self.held is None else min(self.held, moment)

    @property
    def cursor(self) -> datetime | None:
        """Where the cursor moves after the run: the newest change seen, but not past a held one."""
        if self.newest is None or self.held is None:
            return self.newest
        return min(self.newest, self.held)


class IdSet:
    """A set of record ids that stays small and keeps no per-id object: a ConnectWise id (a decimal number, as
    ConnectWise's ids are) is one bit of a bitmap; any other text goes in a plain set.

    What a run remembers of every record it read (the records a full read saw, the links it found) was a set of id
    texts: about 90 bytes per id, and, worse, each of those small texts pinned the allocator's block it was made in
    among the page's short-lived objects, so the run's memory grew with the data (#19). The bitmap grows to the
    largest id it holds (an id past `LIMIT` goes in the set: 2 MB at most)."""

    LIMIT = 1 << 24
    """Ids from here on go in the set (the bitmap's size is the largest id's, in bits)."""

    __slots__ = ("_bits", "_count", "_other")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._bits = bytearray()
        self._count = 0
        self._other: set[str] = set()
        self.update(ids)

    @staticmethod
    def _spot(text: str) -> tuple[int, int] | None:
        """The byte and bit of a decimal id under `LIMIT` (no leading zero: "07" is another text than "7")."""
        if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
            number = int(text)
            if number < IdSet.LIMIT:
                return number >> 3, 1 << (number & 7)
        return None

    def add(self, text: str) -> None:
        spot = self._spot(text)
        if spot is None:
            self._other.add(text)
            return
        (byte, bit), bits = spot, self._bits
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))  # doubles: amortised O(1) per id
        if not bits[byte] & bit:
            bits[byte] |= bit
            self._count += 1

    def discard(self, text: str) -> None:
        if text in self:
            spot = self._spot(text)
            if spot is None:
                self._other.discard(text)
            else:
                self._bits[spot[0]] &= ~spot[1] & 0xFF
                self._count -= 1

    def update(self, ids: Iterable[str]) -> None:
        for text in ids:
            self.add(text)

    def difference_update(self, ids: Iterable[str]) -> None:
        for text in ids:
            self.discard(text)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        spot = self._spot(text)
        if spot is None:
            return text in self._other
        return spot[0] < len(self._bits) and bool(self._bits[spot[0]] & spot[1])

    def __len__(self) -> int:
        return self._count + len(self._other)


class Cursors:
    """A pair's cursors in the store, one per side, each kept with the scope it is valid for (`cursor_value`): what
    every run reads before its read and moves after a completed one."""

    def __init__(self, store: Store, tenant: str, pair: str, scope: str | None) -> None:
        self.store, self.tenant, self.pair, self.scope = store, tenant, pair, scope

    async def read(self, side: Literal["left", "right"] = "left") -> datetime | None:
        """Where the side's last completed run got to (None: never, or kept with another scope: read everything)."""
        return cursor_moment(await self.store.cursor(self.tenant, self.pair, side), self.scope)

    async def save(self, moments: Mapping[Literal["left", "right"], datetime | None]) -> None:
        """Move the sides' cursors to these moments in one transaction (a side given None stays where it is)."""
        moved = {side: moment for side, moment in moments.items() if moment is not None}
        if not moved:
            return
        async with self.store.transaction() as tx:
            for side, moment in moved.items():
                await tx.set_cursor(self.tenant, self.pair, side, cursor_value(moment, self.scope))
