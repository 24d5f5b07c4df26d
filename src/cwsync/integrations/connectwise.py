"""ConnectWise as an engine `Source`: changed records by `lastUpdated`, records by id, one page at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import Condition, F, all_of
from cwsync.engine.pair import Raw
from cwsync.engine.reading import chunks, last_updated, newest_update

__all__ = ["ConnectWiseSource"]

ID_CHUNK = 100
"""Ids per `id in (...)` condition (keeps the URL short)."""


class ConnectWiseSource:
    """Records of one ConnectWise endpoint (`company/companies`, `service/tickets`, ...)."""

    def __init__(
        self,
        client: ConnectWiseClient,
        path: str,
        *,
        fields: str | None = None,
        page_size: int | None = 1000,
        where: Condition | None = None,
        scope: Condition | None = None,
    ):
        """`where`: a condition every read of changes adds (e.g. `deletedFlag = false`); reads by id do not.
        `scope`: a condition every read adds, by id too (the companies in scope): a record outside it is gone.
        `page_size` None: the connection's own (`connections.connectwise.page_size`)."""
        self.client, self.path, self.fields, self.page_size = client, path, fields, page_size
        self.where, self.scope = where, scope
        self.pages = 0
        """Pages of changes read (reports)."""

    def _changed_since(self, since: datetime | None) -> Condition | None:
        moment = None if since is None else F("lastUpdated") >= since
        parts = [c for c in (self.where, moment, self.scope) if c is not None]
        return all_of(*parts) if parts else None

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of records with `lastUpdated >= since` (all of them when None), forward-only paging."""
        async for page in self.client.stream(
            self.path, conditions=self._changed_since(since), fields=self.fields, page_size=self.page_size
        ):
            self.pages += 1
            yield page

    async def count_changed(self, since: datetime | None) -> int:
        """How many records `changed(since)` reads (ConnectWise's own count: progress totals)."""
        return await self.client.count(self.path, conditions=self._changed_since(since))

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        """The records with these ids that exist, 100 ids per read."""
        out: list[Raw] = []
        for chunk in chunks(sorted({int(i) for i in ids}), ID_CHUNK):
            conditions = all_of(*[c for c in (F("id").in_(chunk), self.scope) if c is not None])
            async for page in self.client.stream(
                self.path, conditions=conditions, fields=self.fields, page_size=self.page_size
            ):
                out.extend(page)
        return out

    async def confirm(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids ConnectWise still has as a full read would see them (`where` and `scope` applied: a
        soft-deleted company is gone), 100 ids per read of the ids alone."""
        out: set[str] = set()
        for chunk in chunks(sorted({int(i) for i in ids}), ID_CHUNK):
            parts = [c for c in (F("id").in_(chunk), self.where, self.scope) if c is not None]
            async for page in self.client.stream(
                self.path, conditions=all_of(*parts), fields="id", page_size=self.page_size
            ):
                out.update(str(raw["id"]) for raw in page)
        return out

    def updated_at(self, raw: Raw) -> datetime | None:
        """The record's `_info.lastUpdated`."""
        return last_updated(raw)

    def newest(self, page: Sequence[Raw]) -> datetime | None:
        """The newest `updated_at` of a page (what the watermark follows), at once (`newest_update`)."""
        return newest_update(page)
