"""What the configuration screens offer to choose from, read from the systems themselves and kept briefly.

The forms offer real names, never free guesses: HubSpot property definitions and their dropdown options, the
ConnectWise custom-field captions, company types, configuration types, catalog categories / subcategories / product
types, opportunity statuses, service boards and each board's statuses, and a company search. Each answer is kept
`ttl` seconds (`Cached`), so moving between screens does not read ConnectWise again; a save that depends on what
was read (a property created) drops the entry.

`filter_count` answers "412 of 1,203 companies pass": the total is ConnectWise's own count (`GET …/count`), and
the passing number comes from reading the records and deciding each with the sync's own skip
(`syncs.hubspot.run.left_skip` on the record flattened as the sync does: the built-in rules — a deleted company, an
inactive contact, a contact without a company — then the filters), so it is exactly what the next sync would take;
ConnectWise's conditions cannot express every rule (a list field, a custom field by caption, `not_contains`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cwsync.config import Config
from cwsync.config.model import ObjectSync
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F, any_of
from cwsync.core.mapping import MappingError, ObjectMapping
from cwsync.integrations.hubspot.defaults import OBJECTS
from cwsync.integrations.hubspot.run import left_skip, mappings
from cwsync.integrations.hubspot.schema import CUSTOM_TYPES
from cwsync.integrations.hubspot.sides import ConnectWiseSide

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
    built_in: int = 0
    """Records the sync leaves out whatever the filters say: the built-in rules (deleted, inactive, no company)
    and records whose parent does not sync (a contact of a company left out)."""

    def text(self) -> str:
        """`412 of 1,203 companies pass` (and how many of the others the built-in rules leave out)."""
        said = f"{self.passing:,} of {self.total:,} {self.noun} pass"
        if self.built_in:
            said += (
                f" ({self.built_in:,} left out whatever the filters say: deleted, inactive, without a company,"
                " or their parent does not sync)"
            )
        return said


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

    async def filter_count(self, pair: str, config: Config) -> FilterCount:
        """How many of the pair's ConnectWise records the sync of `config` would take (see the module)."""
        decided = await self._decide(pair, config)
        return FilterCount(decided.passing, decided.total, pair, len(decided.left_out) - decided.filtered)

    async def _decide(self, pair: str, config: Config) -> _Decided:
        """Every record of `pair` decided as the sync decides it: the built-in rules, a parent that does not sync
        (a contact whose company is left out waits for it: HS-8), then the filters (kept `ttl` seconds)."""
        hubspot = config.syncs.hubspot
        catalog = config.syncs.catalog
        priority = tuple(catalog.company_type_priority) if catalog is not None else None
        section = hubspot.model_dump_json() if hubspot is not None else ""
        key = f"count:{pair}:{priority}:{section}"

        async def read() -> _Decided:
            path = OBJECTS[pair].left_object
            found = hubspot.objects.get(pair) if hubspot is not None else None  # type: ignore[call-overload]
            rules = list(found.filters.connectwise) if isinstance(found, ObjectSync) else []
            try:
                mapping = mappings(config).get(pair)
            except MappingError:  # the save's checks name it; count without the parents
                mapping = None
            parents = {}
            if mapping is not None:
                for name, parent in mapping.references.items():
                    parents[name] = (await self._decide(parent, config)).left_out
            total = await self.cw.count(path)
            side = ConnectWiseSide(self.cw, pair, path, priority)
            left_out: set[str] = set()
            filtered = passing = 0
            async for page in self.cw.stream(path):
                for raw in page:
                    flat = side.flatten(raw)
                    if left_skip(pair, flat, ()) is None and not _waits(mapping, flat, parents):
                        if left_skip(pair, flat, rules) is None:
                            passing += 1
                            continue
                        filtered += 1
                    left_out.add(str(raw["id"]))
            return _Decided(total, passing, filtered, frozenset(left_out))

        return await self.cache.get(key, read)


@dataclass(frozen=True)
class _Decided:
    total: int
    passing: int
    filtered: int
    """Left out by the filters (the rest of `left_out` by the built-in rules or a parent)."""
    left_out: frozenset[str]
    """The ids the sync leaves out."""


def _waits(mapping: ObjectMapping | None, flat: Mapping[str, Any], parents: Mapping[str, frozenset[str]]) -> bool:
    """Whether a record references a parent the sync leaves out (it would wait for it)."""
    if mapping is None or not parents:
        return False
    values = mapping.project_left(flat)
    return any(values.get(name) in out for name, out in parents.items())
