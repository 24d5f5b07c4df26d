"""What the configuration screens offer to choose from, read from the systems themselves and kept briefly.

The forms offer real names, never free guesses: HubSpot property definitions and their dropdown options, the
ConnectWise custom-field captions, company types, configuration types, catalog categories / subcategories / product
types, opportunity statuses, service boards and each board's statuses, and a company search. Each answer is kept
`ttl` seconds (`Cached`), so moving between screens does not read ConnectWise again; a save that depends on what
was read (a property created) drops the entry.

`filter_count` answers "412 of 1,203 companies pass": the total is ConnectWise's own count (`GET …/count`), and
the passing number comes from reading the records and applying the rules with the sync's own filter code
(`core.filters.failing_rule` on the sync's flattened record), so it is exactly what the next sync would keep —
ConnectWise's conditions cannot express every rule (a list field, a custom field by caption, `not_contains`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cwsync.config.model import FilterRule
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F, any_of
from cwsync.core.filters import failing_rule
from cwsync.syncs.hubspot.defaults import OBJECTS
from cwsync.syncs.hubspot.schema import CUSTOM_TYPES
from cwsync.syncs.hubspot.shapes import FLATTENERS

__all__ = ["Cached", "FilterCount", "Sources"]

T = TypeVar("T")


@dataclass
class Cached:
    """Answers kept `ttl` seconds by key."""

    ttl: float = 60.0
    _kept: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def get(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """The kept answer for `key`, or `read()`'s (then kept)."""
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl:
            value: T = kept[1]
            return value
        value = await read()
        self._kept[key] = (now, value)
        if len(self._kept) > 500:  # forms ask for many keys (searches): keep the newest
            for old in sorted(self._kept, key=lambda k: self._kept[k][0])[:100]:
                del self._kept[old]
        return value

    def forget(self, prefix: str = "") -> None:
        """Drop the answers whose key starts with `prefix` (everything by default)."""
        for key in [k for k in self._kept if k.startswith(prefix)]:
            del self._kept[key]


@dataclass(frozen=True)
class FilterCount:
    """How many records of a pair pass its ConnectWise filters, of how many."""

    passing: int
    total: int
    noun: str

    def text(self) -> str:
        """`412 of 1,203 companies pass`."""
        return f"{self.passing:,} of {self.total:,} {self.noun} pass"


@dataclass
class Sources:
    """The systems' names and options for the forms (one per console; ConnectWise client of the server)."""

    cw: ConnectWiseClient
    cache: Cached = field(default_factory=Cached)

    async def _names(self, path: str, *, field_name: str = "name", active: str | None = None) -> list[str]:
        async def read() -> list[str]:
            fields = f"id,{field_name}" + (f",{active}" if active else "")
            rows = [r async for r in self.cw.stream_records(path, fields=fields)]
            names = [str(r.get(field_name) or "") for r in rows if not (active and r.get(active))]
            return sorted(dict.fromkeys(n for n in names if n), key=str.lower)

        return await self.cache.get(f"names:{path}", read)

    async def company_types(self) -> list[str]:
        """ConnectWise company type names."""
        return await self._names("company/companies/types")

    async def company_statuses(self) -> list[str]:
        """ConnectWise company status names."""
        return await self._names("company/companies/statuses")

    async def configuration_types(self) -> list[str]:
        """ConnectWise configuration type names."""
        return await self._names("company/configurations/types", active="inactiveFlag")

    async def catalog_names(self) -> dict[str, list[str]]:
        """Catalog categories, subcategories and product types (the keys of the catalog mappings)."""
        return {
            "categories": await self._names("procurement/categories"),
            "subcategories": await self._names("procurement/subcategories"),
            "product_types": await self._names("procurement/types"),
        }

    async def opportunity_statuses(self) -> list[str]:
        """ConnectWise opportunity status names."""
        return await self._names("sales/opportunities/statuses")

    async def boards(self) -> dict[str, int]:
        """Active service boards: name → id."""

        async def read() -> dict[str, int]:
            rows = [r async for r in self.cw.stream_records("service/boards", fields="id,name,inactiveFlag")]
            return {str(r["name"]): int(r["id"]) for r in rows if not r.get("inactiveFlag") and r.get("name")}

        return await self.cache.get("boards", read)

    async def board_statuses(self, board: str) -> list[str]:
        """The active statuses of a board, in ConnectWise's order (none: the board does not exist)."""
        board_id = (await self.boards()).get(board)
        if board_id is None:
            return []

        async def read() -> list[str]:
            path = f"service/boards/{board_id}/statuses"
            rows = [r async for r in self.cw.stream_records(path, fields="id,name,inactive")]
            return [str(r["name"]) for r in rows if not r.get("inactive") and r.get("name")]

        return await self.cache.get(f"statuses:{board_id}", read)

    async def search_companies(self, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Active companies whose name or identifier contains `text` (the company picker)."""
        text = text.strip()
        if not text:
            return []

        async def read() -> list[dict[str, Any]]:
            wanted = any_of(F("name").contains(text), F("identifier").contains(text))
            cond = wanted & (F("deletedFlag") == False)  # noqa: E712  (a condition, not a comparison)
            rows = await self.cw.list_page(
                "company/companies", conditions=cond, fields="id,identifier,name", page_size=limit
            )
            return [{"id": r["id"], "identifier": r.get("identifier"), "name": r.get("name")} for r in rows]

        return await self.cache.get(f"companies:{text.lower()}:{limit}", read)

    async def custom_fields(self, pair: str) -> dict[str, str]:
        """Caption → kind (text, number, date, boolean) of a pair's ConnectWise custom fields, from one record."""
        path = OBJECTS[pair].left_object

        async def read() -> dict[str, str]:
            async for page in self.cw.stream(path, fields="id,customFields", page_size=1):
                for record in page[:1]:
                    return {
                        str(item["caption"]): CUSTOM_TYPES.get(str(item.get("type")), CUSTOM_TYPES["Text"]).value
                        for item in record.get("customFields") or []
                        if isinstance(item, Mapping) and item.get("caption")
                    }
                break
            return {}

        return await self.cache.get(f"custom:{path}", read)

    async def filter_count(self, pair: str, rules: Sequence[FilterRule]) -> FilterCount:
        """How many of the pair's ConnectWise records pass `rules` (see the module)."""
        path = OBJECTS[pair].left_object
        key = f"count:{pair}:" + "|".join(r.model_dump_json() for r in rules)

        async def read() -> FilterCount:
            total = await self.cw.count(path)
            if not rules:
                return FilterCount(total, total, pair)
            flatten = FLATTENERS[pair]
            passing = 0
            async for page in self.cw.stream(path):
                passing += sum(1 for raw in page if failing_rule(rules, flatten(raw)) is None)
            return FilterCount(passing, total, pair)

        return await self.cache.get(key, read)
