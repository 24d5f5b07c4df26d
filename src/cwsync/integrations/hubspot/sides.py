"""The two sides of the HubSpot integration as the engine's two-way loop reads and writes them.

`ConnectWiseSide` is the loop's `engine.twoway.LeftSide` and `HubSpotSide` its `RightSide`: stream changed records,
look records up by match key, and shape and send writes (HubSpot's batch writes go through the pair's
`integrations.hubspot.HubSpotTarget`) — so the loop holds the sync logic and no API details.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F, all_of, any_of
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import ObjectMapping
from cwsync.engine.reading import chunks, last_updated
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.integrations.hubspot import shapes
from cwsync.integrations.hubspot.defaults import OBJECTS

OVERLAP = timedelta(seconds=5)
"""Incremental reads start this long before the watermark (timestamps have second granularity)."""

Raw = dict[str, Any]


def parse_moment(text: Any) -> datetime | None:
    """An ISO timestamp (or epoch millis) as an aware datetime, or None."""
    if text in (None, ""):
        return None
    if isinstance(text, int | float) or (isinstance(text, str) and text.isdigit()):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class ConnectWiseSide:
    """ConnectWise records of one pair (companies, contacts or opportunities)."""

    client: ConnectWiseClient
    pair: str
    path: str
    type_priority: tuple[str, ...] | None = None
    """Company types, most important first (SB-2; `syncs.catalog.company_type_priority`), None for the default."""
    forecast: bool = False
    """Opportunities carry their forecast items (`_forecast`, one `GET …/forecast` each): the amount ↔ forecast
    mapping is configured (`shapes.reads_forecast`)."""
    on_types: Callable[[set[str]], Awaitable[Any]] | None = None
    """Told the company types of every page of companies read, before the page is planned (SB-1: a type the
    HubSpot dropdown lacks is imported first)."""
    context: Callable[[], Mapping[str, Any]] = dict
    """What an opportunity made from a deal is written with (status ids, the default sales rep: the run's
    preparation finds them)."""

    def __post_init__(self) -> None:
        self.source = ConnectWiseSource(self.client, self.path, fields=shapes.READS.get(self.pair), page_size=None)
        """The reads, as every pair on the engine reads ConnectWise (`integrations.connectwise`), of the fields the
        pair uses (`shapes.READS`)."""

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of records changed since `since` (all records when None), `OVERLAP` before it."""
        async for page in self.source.changed(_overlapped(since)):
            yield await self._enriched(page)

    async def count_changed(self, since: datetime | None) -> int:
        """How many records `changed(since)` reads: ConnectWise's own count (`GET {path}/count`)."""
        return await self.source.count_changed(_overlapped(since))

    def flatten(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Flat fields of a record."""
        if self.pair == "companies" and self.type_priority is not None:
            return shapes.flatten_company(raw, priority=self.type_priority)
        return shapes.FLATTENERS[self.pair](raw)

    @staticmethod
    def updated_at(raw: Mapping[str, Any]) -> datetime | None:
        """When the record last changed (`_info.lastUpdated`)."""
        return last_updated(raw)

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]:
        """Records whose match key has one of `values` (lower-cased value → record)."""
        if not values:
            return {}
        found: dict[str, Raw] = {}
        for chunk in chunks(list(values), 40):
            async for page in self._search(key, chunk):
                for raw in page:
                    value = self.flatten(raw).get(_LEFT_KEYS[self.pair].get(key, key))
                    if value:
                        found.setdefault(str(value).lower(), raw)
        await self._enriched(list(found.values()))
        return found

    def _search(self, key: str, values: list[str]) -> AsyncIterator[list[Raw]]:
        if self.pair == "contacts" and key == "email":
            cond = any_of(*(F("communicationItems/value") == v for v in values))
            return self.client.stream(self.path, child_conditions=cond)
        left_key = _LEFT_KEYS[self.pair].get(key, key)
        return self.client.stream(self.path, conditions=F(left_key).in_(values))

    async def get(self, record_id: str) -> Raw:
        """One record by id."""
        [raw] = await self._enriched([await self.client.get(self.path, int(record_id))])
        return raw

    async def get_many(self, record_ids: Sequence[str]) -> list[Raw]:
        """The records with these ids that exist (one call per 100 ids); a missing id is simply absent."""
        return await self._enriched(await self.source.get_many(record_ids))

    async def _enriched(self, raws: list[Raw]) -> list[Raw]:
        """Records as read, before they are planned: opportunities with their forecast items under `_forecast`
        (read together, under the client's cap) when the forecast is mapped; companies' types told to `on_types`."""
        if self.pair == "companies" and self.on_types is not None and raws:
            await self.on_types({str(n) for raw in raws for t in raw.get("types") or [] if (n := shapes.ref_name(t))})
        if not self.forecast or self.pair != "deals" or not raws:
            return raws
        items = await asyncio.gather(*(self.forecast_items(str(raw["id"])) for raw in raws))
        for raw, found in zip(raws, items, strict=True):
            raw["_forecast"] = found
        return raws

    async def forecast_items(self, opportunity_id: str) -> list[Raw]:
        """An opportunity's forecast items. `GET …/forecast` answers `[Forecast]` by the spec, each holding
        `forecastItems`; a row that is an item itself is taken as one (the live shape is UNCONFIRMED)."""
        items: list[Raw] = []
        async for row in self.client.stream_records(_forecast_path(opportunity_id)):
            held = row.get("forecastItems")
            items += [i for i in held if isinstance(i, dict)] if isinstance(held, list) else [row]
        return items

    async def write_forecast(self, opportunity_id: str, amount: str | None, status_id: int | None) -> list[Raw]:
        """Make the opportunity's forecast total `amount` through cwsync's own line (`shapes.plan_forecast`): looked
        up first, so a re-run, a retry or a run killed half-way updates that line and never adds a second. Answers
        the forecast items as they are afterwards (what the link records)."""
        path = _forecast_path(opportunity_id)
        items = await self.forecast_items(opportunity_id)
        plan = shapes.plan_forecast(items, amount)
        for extra in plan.extra:
            await self.client.delete(path, extra)
        line = next((i for i in items if i.get("id") == plan.line_id), None)
        ops = _status_ops(line, status_id)
        if plan.op == "update":
            ops += [{"op": "replace", "path": "revenue", "value": plan.revenue}]
            ops.append({"op": "replace", "path": "includeFlag", "value": True})
        if plan.op in ("keep", "remove") and not ops:  # `remove`: every line of cwsync's is an extra one
            return [i for i in items if i.get("id") not in plan.extra]
        if ops:
            assert plan.line_id is not None
            await self.client.patch(path, plan.line_id, ops)
        elif plan.op == "add":
            assert plan.revenue is not None
            if status_id is None:
                status_id = _ref_id((await self.client.get(self.path, int(opportunity_id))).get("status"))
            await self.client.create(path, {"forecastItems": [shapes.forecast_line(plan.revenue, status_id)]})
        return await self.forecast_items(opportunity_id)

    async def follow_status(self, opportunity_id: str, status_id: int) -> None:
        """cwsync's forecast line takes the opportunity's new status (a deal won in HubSpot: its line counts as won
        revenue in ConnectWise); the lines ConnectWise users made are theirs to change."""
        items = await self.forecast_items(opportunity_id)
        mine = [i for i in items if i.get("forecastDescription") == shapes.FORECAST_LINE]
        line = min(mine, key=lambda i: int(i["id"])) if mine else None
        if line is not None and (ops := _status_ops(line, status_id)):
            await self.client.patch(_forecast_path(opportunity_id), int(line["id"]), ops)

    async def write_create(self, mapping: ObjectMapping, values: Mapping[str, str | None], right_id: str) -> Raw:
        """Create the record of a HubSpot object's mapped values (`create`: looked up after a lost answer)."""
        return await self.create(shapes.connectwise_body(self.pair, mapping, values, right_id, self.context()))

    async def write_update(
        self, mapping: ObjectMapping, left_id: str, values: Mapping[str, str | None], current: Raw | None
    ) -> None:
        """Patch the record with these mapped values; the record is read first when the patch needs it as it is
        (arrays ConnectWise replaces whole) and this run did not read it."""
        if current is None and shapes.needs_current(values, mapping):
            current = await self.get(left_id)
        ops = shapes.connectwise_patch(self.pair, mapping, values, current, self.context())
        if ops:
            await self.patch(left_id, ops)

    async def create(self, body: Mapping[str, Any]) -> Raw:
        """Create a record (safe to retry: companies are looked up by identifier after a lost answer). An
        opportunity has no natural key: it is looked up by name, company and contact before it is created (a run
        killed after the write finds it) and after a lost answer."""
        if self.pair != "deals":
            return await self.client.create(self.path, body)
        body = dict(body)
        amount = body.pop(shapes.FORECAST, None)
        created = await self._create_opportunity(body)
        if self.forecast:
            status = _ref_id(body.get("status")) or _ref_id(created.get("status"))
            created["_forecast"] = await self.write_forecast(str(created["id"]), amount, status)
        return created

    async def _create_opportunity(self, body: Mapping[str, Any]) -> Raw:
        match = all_of(
            F("name") == str(body.get("name") or ""),
            F("company/id") == int(body["company"]["id"]),
            F("contact/id") == int(body["contact"]["id"]),
        )
        found = await self.client.list_page(self.path, conditions=match, page_size=1)
        if found:
            return found[0]
        return await self.client.create(self.path, body, match=match)

    async def patch(self, record_id: str, ops: list[dict[str, Any]]) -> Raw:
        """Apply JSON-patch operations to a record; an opportunity's forecast total (`shapes.FORECAST`) is written
        to its forecast instead (`write_forecast`), after the opportunity itself."""
        forecast = [op for op in ops if op.get("path") == shapes.FORECAST]
        rest = [op for op in ops if op.get("path") != shapes.FORECAST]
        status = next((_ref_id(op.get("value")) for op in rest if op.get("path") == "status"), None)
        if self.pair != "deals" or not self.forecast or (not forecast and status is None):
            return await self.client.patch(self.path, int(record_id), ops)
        record: Raw = await self.client.patch(self.path, int(record_id), rest) if rest else {"id": int(record_id)}
        if forecast:
            amount = forecast[-1].get("value")
            record["_forecast"] = await self.write_forecast(record_id, None if amount is None else str(amount), status)
        elif status is not None:
            await self.follow_status(record_id, status)
        return record


def _status_ops(line: Mapping[str, Any] | None, status_id: int | None) -> list[dict[str, Any]]:
    """The patch giving cwsync's forecast line the opportunity's status, when it has another one."""
    if line is None or status_id is None or _ref_id(line.get("status")) == status_id:
        return []
    return [{"op": "replace", "path": "status", "value": {"id": status_id}}]


def _forecast_path(opportunity_id: str) -> str:
    return f"sales/opportunities/{int(opportunity_id)}/forecast"


def _ref_id(value: Any) -> int | None:
    """The id of a ConnectWise reference (`{"id": 3, ...}`), None when there is none."""
    if isinstance(value, Mapping) and isinstance(value.get("id"), int) and not isinstance(value.get("id"), bool):
        return int(value["id"])
    return None


_LEFT_KEYS = {
    "companies": {"connectwise_company_id": "identifier"},
    "contacts": {"email": "email"},
    "deals": {"connectwise_opportunity_id": "id"},
}


@dataclass
class HubSpotSide:
    """HubSpot objects of one pair."""

    client: HubSpotClient
    pair: str
    object_type: str
    properties: tuple[str, ...]
    missing: set[str] = field(default_factory=set)
    """Properties HubSpot lacks (a dry run before `create-properties`): not read, not matched on."""
    read_mark: datetime | None = None

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of objects modified since `since` (all objects when None).

        Sets `read_mark`: HubSpot's clock when it answered the read's first request, less `OVERLAP` (search is
        eventually consistent) — every change before it has been read. None when HubSpot sent no `Date`.
        """
        self.read_mark = None
        props = self.readable_properties()
        if since is None:
            pages = self.client.stream(self.object_type, properties=props)
        else:
            pages = self.client.search_modified_since(self.object_type, since - OVERLAP, properties=props)
        async for page in pages:
            self._mark()
            yield page
        self._mark()

    def _mark(self) -> None:
        if self.read_mark is None and self.client.server_time is not None:
            self.read_mark = self.client.server_time - OVERLAP

    async def get(self, object_id: str) -> Raw:
        """One object by id, with the properties the pair reads."""
        return await self.client.get(self.object_type, object_id, properties=self.readable_properties())

    async def get_many(self, object_ids: Sequence[str]) -> list[Raw]:
        """The objects with these ids that exist (batch reads of 100); an archived or unknown id is absent."""
        if not object_ids:
            return []
        return await self.client.batch_read(self.object_type, list(object_ids), properties=self.readable_properties())

    def readable_properties(self) -> list[str]:
        return [p for p in self.properties if p not in self.missing]

    @staticmethod
    def stamp(raw: Mapping[str, Any]) -> str | None:
        """The object's last modification as a canonical string (what links keep to recognise an unchanged object)."""
        text = _modified(raw)
        if isinstance(text, str | int):
            return _stamp(text)
        moment = parse_moment(text)
        return moment.isoformat() if moment is not None else None

    @staticmethod
    def updated_at(raw: Mapping[str, Any]) -> datetime | None:
        """When the object last changed."""
        return parse_moment(_modified(raw))

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]:
        """Objects whose (unique) property `key` has one of `values`, by batch read with idProperty."""
        if not values or key in self.missing:
            return {}
        props = sorted({*self.properties, key} - self.missing)
        rows = await self.client.batch_read(self.object_type, list(values), properties=props, id_property=key)
        found: dict[str, Raw] = {}
        for raw in rows:
            value = (raw.get("properties") or {}).get(key)
            if value:
                found.setdefault(str(value).lower(), raw)
        return found

    async def associations(self, to_type: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """Associated object ids (e.g. a contact's companies)."""
        ids = list(ids)
        if not ids:
            return {}
        return await self.client.batch_read_associations(self.object_type, to_type, ids)

    async def parents_of(self, parent_pair: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """The objects' associated objects of a parent pair (a contact's companies)."""
        return await self.associations(OBJECTS[parent_pair].right_object, ids)

    async def associate(self, parent_pair: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Default associations of (object, parent object) pairs."""
        await self.client.batch_associate_default(self.object_type, OBJECTS[parent_pair].right_object, list(pairs))

    @staticmethod
    def flatten(raw: Mapping[str, Any], references: Mapping[str, str | None]) -> dict[str, Any]:
        """An object's properties, id and references (ConnectWise ids) as flat fields."""
        return shapes.flatten_hubspot(raw, references)

    @staticmethod
    def write_properties(mapping: ObjectMapping, values: Mapping[str, str | None], *, create: bool) -> dict[str, Any]:
        """The HubSpot properties a write sends (references are associations): a dict made for this write."""
        return shapes.hubspot_properties(mapping, values, create=create)

    async def backfill(self, mapping: ObjectMapping, object_id: str, values: Mapping[str, str | None]) -> None:
        """Send the properties only ConnectWise knows (its ids) once it created the object's record."""
        properties = shapes.hubspot_properties(mapping, values)
        await self.client.batch_update(self.object_type, [{"id": object_id, "properties": properties}])


def _modified(raw: Mapping[str, Any]) -> Any:
    """An object's last modification as HubSpot gives it."""
    props = raw.get("properties") or {}
    return raw.get("updatedAt") or props.get("hs_lastmodifieddate") or props.get("lastmodifieddate")


@functools.lru_cache(maxsize=256)
def _stamp(text: str | int) -> str | None:
    """`HubSpotSide.stamp` of a modification's text: the objects of one batch write share a few (HubSpot's are to
    the millisecond), so each is parsed once."""
    moment = parse_moment(text)
    return moment.isoformat() if moment is not None else None


def _overlapped(since: datetime | None) -> datetime | None:
    """Where an incremental read starts: `OVERLAP` before `since`, to the second (ConnectWise's granularity)."""
    return None if since is None else (since - OVERLAP).replace(microsecond=0)


def right_properties(mapping: ObjectMapping) -> tuple[str, ...]:
    """The HubSpot properties a pair reads."""
    return tuple(sorted({f.right for f in mapping.fields if f.name not in mapping.references}))


async def opportunity_defaults(cw: ConnectWiseClient, config: Config) -> dict[str, Any]:
    """What an opportunity made from a HubSpot deal needs that the deal does not say (HS-1): ConnectWise's status ids
    by lower-case name (and the default one), and the sales rep when the deal's owner is no member
    (`syncs.catalog.primary_sales_rep`, else the first member)."""
    statuses = [s async for s in cw.stream_records("sales/opportunities/statuses", fields="id,name,defaultFlag")]
    catalog = config.syncs.catalog
    wanted = catalog.primary_sales_rep if catalog is not None else None
    members = await cw.list_page(
        "system/members",
        conditions=(F("identifier") == wanted) if wanted else None,
        fields="id,identifier",
        page_size=1,
    )
    default = next((s for s in statuses if s.get("defaultFlag")), statuses[0] if statuses else None)
    return {
        "statuses": {str(s["name"]).lower(): int(s["id"]) for s in statuses},
        "default_status": int(default["id"]) if default else None,
        "rep": int(members[0]["id"]) if members else None,
    }
