"""The Hudu asset data types as engine pairs: the records of matched companies → assets, planned by `Engine.run`.

One pair per data type (`hudu:sites`, `hudu:contacts`, `hudu:configurations`, `hudu:agreements`), built per run
from what the companies step and the layouts decided: ConnectWise company id → Hudu company id (a stand-in id at or
below `PLANNED` for a company a dry run would create), the layouts by name (configurations by sort rules), the site
assets (`Location` asset tags) and, when the run verifies, the ids of the assets Hudu still has. The projection
(`integrations.hudu.flat_asset`) is planned through a one-way `ObjectMapping`; the Hudu rules are the engine's
hooks: inactive records are skipped (`skip`), inactive or expired agreements archived (`retire`), a rename is written
only with `auto_update_asset_names` (`frozen`), a new company or layout re-creates the asset and archives the old
one (`moves`), an asset deleted in Hudu is created again (`lost`), `match_assets_on_serial` links an unlinked asset
with the same serial instead of creating one (`adopt`) and leaves it in its layout, projected with that
layout's labels (`pinned`, `placed`), links of earlier
versions are read in the flat form (`stored`), and an incremental read is valid only for the matched companies and
options it was made with (`scope`). Assets a killed run created are found by layout and name (`HuduAssetTarget.find`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cwsync.config.hudu import DataType, HuduSync
from cwsync.config.vocabulary import Direction
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import NotFoundError
from cwsync.connectors.hudu import HuduClient
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.engine.oneway import Decision
from cwsync.engine.pair import Pair, Raw, Write
from cwsync.engine.reading import chunks, last_updated
from cwsync.integrations.hudu.layouts import LayoutInfo
from cwsync.integrations.hudu.shapes import (
    Source,
    agreement_source,
    asset_values,
    configuration_source,
    connected_values,
    contact_source,
    site_source,
)
from cwsync.integrations.hudu.target import HuduAssetTarget, flat_asset
from cwsync.store import Link, Store

__all__ = ["PLANNED", "SERIAL_MATCH", "AssetSource", "asset_pair"]

SERIAL_MATCH = "primary_serial"
"""The match key of a link made by `match_assets_on_serial`: the asset stays in the layout the MSP filed it in."""
PLANNED = 0
"""Hudu company ids at or below this stand for companies a plan (dry run) would create."""
CHUNK = 100
"""Company ids per `company/id in (...)` condition (keeps the URL short)."""
PATHS: dict[DataType, str] = {
    "contacts": "company/contacts",
    "configurations": "company/configurations",
    "agreements": "finance/agreements",
}
BUILTINS: dict[DataType, tuple[str, ...]] = {
    "contacts": ("primary_mail",),
    "configurations": ("primary_serial", "primary_model", "primary_manufacturer"),
}
RENAME_OFF = "renamed in ConnectWise; auto_update_asset_names is off"
PLACED = ("company", "layout")
"""Where an asset is: a change re-creates it there (the old one archived), unless it was matched on its serial."""
SITE_COMPANY = "_cwsync_company_id"
"""Where a site read from `company/companies/{id}/sites` keeps its company (a site record does not name it)."""


class AssetSource:
    """The ConnectWise records of one data type of the given companies (the matched ones; for the types but sites, the
    companies without a Hudu company too, whose records skip naming them), a page at a time (an engine `Source`):
    sites per company (8 companies at once, always all of them), the other types by `company/id in (...)`, changed
    since the cursor on an incremental run."""

    def __init__(
        self, cw: ConnectWiseClient, kind: DataType, companies: Sequence[int], others: Sequence[int] = ()
    ) -> None:
        """`others`: the ConnectWise companies linked to a Hudu company but not read this run (a skipped type, ...),
        where `confirm` looks for sites."""
        self.cw, self.kind, self.companies = cw, kind, sorted(companies)
        self.others = sorted(set(others) - set(self.companies))

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        if self.kind == "sites":
            for chunk in chunks(self.companies, 8):
                pages = await asyncio.gather(*(self._sites(company_id) for company_id in chunk))
                sites = [s for page in pages for s in page]
                if sites:
                    yield sites
            return
        for chunk in chunks(self.companies, CHUNK):
            conditions = F("company/id").in_(chunk)
            if since is not None:
                conditions = conditions & (F("lastUpdated") >= since)
            async for page in self.cw.stream(PATHS[self.kind], conditions=conditions):
                yield page

    async def count_changed(self, since: datetime | None) -> int:
        """How many records `changed(since)` reads, by ConnectWise's count (not for sites: they are read per company,
        and counting them would cost as many calls as reading them)."""
        if self.kind == "sites":
            raise LookupError("sites are not counted")
        total = 0
        for chunk in chunks(self.companies, CHUNK):
            conditions = F("company/id").in_(chunk)
            if since is not None:
                conditions = conditions & (F("lastUpdated") >= since)
            total += await self.cw.count(PATHS[self.kind], conditions=conditions)
        return total

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        """The records with these ids that ConnectWise has, whatever their company (one of a company this run does
        not sync is skipped naming why, never taken for deleted); sites are looked for in the run's companies, then
        in the linked ones it does not read."""
        wanted = {str(i) for i in ids}
        if self.kind == "sites":
            found = [s async for page in self.changed(None) for s in page if str(s["id"]) in wanted]
            missing = wanted - {str(s["id"]) for s in found}
            if missing and self.others:
                found.extend(await self._sites_of(self.others, missing))
            return found
        out: list[Raw] = []
        for chunk in chunks(sorted(int(i) for i in wanted), CHUNK):
            async for page in self.cw.stream(PATHS[self.kind], conditions=F("id").in_(chunk)):
                out.extend(page)
        return out

    async def confirm(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids ConnectWise still has, in any company (the run reads only its companies' records: one
        of another company, or of a company deleted in ConnectWise, is out of scope, not deleted). Sites, which have
        no path of their own, are looked for again under every company linked to a Hudu company, read or not (one
        request per company, only when a full read missed a linked site)."""
        wanted = {str(i) for i in ids}
        if self.kind == "sites":
            return {str(s["id"]) for s in await self._sites_of([*self.companies, *self.others], wanted)}
        out: set[str] = set()
        for chunk in chunks(sorted(int(i) for i in wanted), CHUNK):
            async for page in self.cw.stream(PATHS[self.kind], conditions=F("id").in_(chunk), fields="id"):
                out.update(str(r["id"]) for r in page)
        return out

    def updated_at(self, raw: Raw) -> datetime | None:
        return last_updated(raw)

    async def _sites_of(self, companies: Sequence[int], wanted: set[str]) -> list[Raw]:
        """The wanted sites among those of these companies (one deleted in ConnectWise has none)."""
        found: list[Raw] = []
        for chunk in chunks(list(companies), 8):
            pages = await asyncio.gather(*(self._sites(company_id, missing_ok=True) for company_id in chunk))
            found.extend(s for page in pages for s in page if str(s["id"]) in wanted)
        return found

    async def _sites(self, company_id: int, *, missing_ok: bool = False) -> list[Raw]:
        path = f"company/companies/{company_id}/sites"
        try:
            return [{**s, SITE_COMPANY: company_id} async for page in self.cw.stream(path) for s in page]
        except NotFoundError:
            if missing_ok:  # the company was deleted in ConnectWise: its sites with it
                return []
            raise


def layouts_of(kind: DataType, sync: HuduSync, layouts: Mapping[str, LayoutInfo]) -> list[LayoutInfo]:
    """The layouts a data type's assets go into."""
    names = {
        "sites": [sync.layouts.locations],
        "contacts": [sync.layouts.contacts],
        "agreements": [sync.layouts.agreements],
        "configurations": [sync.layouts.configurations, *(r.layout for r in sync.layouts.sort_rules)],
    }.get(kind, [])
    found = (layouts.get(name.strip().lower()) for name in names)
    return [info for info in found if info is not None]


def asset_mapping(kind: DataType, sync: HuduSync, layouts: Mapping[str, LayoutInfo]) -> ObjectMapping:
    """The one-way mapping of a data type: company, layout, name, its built-in fields and its layouts' labels."""
    labels = sorted({label for info in layouts_of(kind, sync, layouts) for label in info.labels.values()})
    names = [
        "company",
        "layout",
        "name",
        *(f"fields.{k}" for k in BUILTINS.get(kind, ())),
        *(f"custom.{x}" for x in labels),
    ]
    fields = tuple(FieldMap(name=n, left=n, right=n, direction=Direction.TO_RIGHT) for n in names)
    return ObjectMapping(f"hudu:{kind}", kind, "assets", fields, (), Direction.TO_RIGHT)


def asset_pair(
    kind: DataType,
    sync: HuduSync,
    cw: ConnectWiseClient,
    target: HuduAssetTarget,
    *,
    companies: Mapping[int, int],
    layouts: Mapping[str, LayoutInfo],
    sites: Mapping[int, int],
    existing: set[int] | None,
    scope: str | None,
    in_flight: int,
    serials: SerialIndex | None = None,
    today: datetime | None = None,
    unsynced: Mapping[int, str] | None = None,
    others: Sequence[int] = (),
) -> Pair:
    """The pair of one data type for this run (see the module's docstring).

    `unsynced` names the ConnectWise companies without a Hudu company this run and why: their records (but sites,
    which are read one request per company) are read too and skipped with a reason that names the company. `others`
    are the ConnectWise companies linked to a Hudu company that this run does not read: a linked site the full read
    did not find is looked for there before it is treated as deleted.
    """
    unsynced = unsynced or {}
    read = list(companies) if kind == "sites" else [*companies, *unsynced]
    mapping = asset_mapping(kind, sync, layouts)
    names = [f.name for f in mapping.fields]
    connected = sync.connected_fields.of(kind)  # HU-3: ConnectWise fields into the layout's custom fields

    def flatten(raw: Raw) -> Mapping[str, Any]:
        if kind == "sites":
            source = site_source(raw, int(raw[SITE_COMPANY]), sync)
        elif kind == "contacts":
            source = contact_source(raw, sync)
        elif kind == "configurations":
            source = configuration_source(raw, sync)
        else:
            source = agreement_source(raw, sync, today)
        if connected:
            source = replace(source, values={**source.values, **connected_values(raw, connected)})
        return {"source": source}

    def place(source: Source) -> tuple[int | None, LayoutInfo | None]:
        return companies.get(source.cw_company_id), layouts.get(source.layout.strip().lower())

    def project(flat: Mapping[str, Any]) -> Mapping[str, str | None]:
        source: Source = flat["source"]
        company, layout = place(source)
        if company is None or layout is None:
            return dict.fromkeys(names)
        return shape(source, company, layout, source.name)

    def shape(source: Source, company: int, layout: LayoutInfo, name: str) -> dict[str, str | None]:
        site_asset = sites.get(source.site_id) if source.site_id is not None else None
        extra = {"Location": [site_asset]} if site_asset is not None else {}
        builtins = {k: v for k, v in source.builtins.items() if v is not None}
        values = flat_asset(company, layout.layout_id, name, builtins, asset_values(source, layout.labels, extra))
        return {n: values.get(n) for n in names}

    async def adopt(creates: Sequence[Decision]) -> None:
        """`match_assets_on_serial`: a create whose serial an unlinked asset of its company has links that asset
        instead (in the layout it is in, keeping its name unless renaming is on), writing what differs."""
        by_id = {info.layout_id: info for info in layouts.values()}
        for decision in creates:
            assert decision.write is not None
            source: Source = flatten(decision.write.raw)["source"]
            serial, company = source.builtins.get("primary_serial"), companies.get(source.cw_company_id)
            if serials is None or not serial or company is None or company <= PLANNED:
                continue
            asset = await serials.take(company, serial)
            if asset is None:
                continue
            layout_id = int(asset["asset_layout_id"])
            layout = by_id.get(layout_id) or LayoutInfo(layout_id, str(asset.get("asset_type") or ""), {})
            kept = str(asset.get("name") or "")
            values = shape(source, company, layout, source.name if sync.auto_update_asset_names else kept)
            custom = {str(f["label"]): f.get("value") for f in asset.get("fields") or [] if isinstance(f, Mapping)}
            current = flat_asset(company, layout_id, kept, {k: asset.get(k) for k in source.builtins}, custom)
            previous = {k: current.get(k) if v is not None else None for k, v in values.items()}
            decision.action, decision.right_id, decision.match_key = "link", str(asset["id"]), SERIAL_MATCH
            decision.reason = f"matched Hudu asset {asset['id']} on primary serial {serial!r}"
            decision.values = decision.right_values = values
            decision.diff = {k: (previous[k], v) for k, v in values.items() if previous[k] != v and k not in PLACED}
            decision.write = Write(
                "update", decision.left_id, decision.right_id, values, decision.write.raw, previous=previous
            )

    def placed(flat: Mapping[str, Any], link: Link) -> Mapping[str, str | None]:
        """A record linked on its serial is projected into the layout its asset is in (that layout's labels), not
        the one its sort rule names: the labels of another layout would be written empty."""
        source: Source = flat["source"]
        company = companies.get(source.cw_company_id)
        layout_id = int(link.left_values.get("layout") or 0)
        layout = next((info for info in layouts.values() if info.layout_id == layout_id), None)
        if company is None:
            return project(flat)
        return shape(source, company, layout or LayoutInfo(layout_id, "", {}), source.name)

    def skip(flat: Mapping[str, Any]) -> str | None:
        source: Source = flat["source"]
        company, layout = place(source)
        if source.skip and kind != "agreements":
            return source.skip
        if company is None:
            why = unsynced.get(source.cw_company_id)
            if why is not None:
                return f"its company {source.cw_company_id} does not sync ({why}): this one cannot sync until it does"
            return "its company is not matched to a Hudu company"
        if layout is None:
            return f"asset layout {source.layout!r} does not exist in Hudu"
        return None

    def retire(flat: Mapping[str, Any]) -> str | None:
        source: Source = flat["source"]
        return source.skip if kind == "agreements" else None

    def notes(flat: Mapping[str, Any]) -> Sequence[str]:
        company, _ = place(flat["source"])
        return ("in the company this run creates",) if company is not None and company <= PLANNED else ()

    def lost(link: Link) -> str | None:
        gone = existing is not None and int(link.right_id) not in existing
        return "its asset was deleted in Hudu" if gone else None

    return Pair(
        name=f"hudu:{kind}",
        mapping=mapping,
        source=AssetSource(cw, kind, read, others),
        target=target,
        flatten=flatten,
        project=project,
        skip=skip,
        retire=retire,
        notes=notes,
        batch=25,
        in_flight=in_flight,
        on_delete=sync.on_delete_of(kind),
        mass_delete_share=sync.mass_delete_share,
        mass_delete_setting="syncs.hudu.mass_delete_share",
        target_label="Hudu",
        deleted_as="archived",
        stored=stored_asset_link,
        lost=lost,
        frozen={} if sync.auto_update_asset_names else {"name": RENAME_OFF},
        moves=frozenset(PLACED),
        pinned=lambda link: ("layout",) if link.match_key == SERIAL_MATCH else (),
        placed=placed,
        adopt=adopt if serials is not None and kind == "configurations" else None,
        scope=scope,
    )


def stored_asset_link(link: Link) -> Link:
    """A link in the flat form: links recorded before the engine ran the Hudu assets hold the nested projection
    (`{"company", "layout", "name", "fields": {...}, "custom": {...}}`) and the asset's URL as right values."""
    values = link.left_values
    if not isinstance(values.get("fields"), Mapping) and not isinstance(values.get("custom"), Mapping):
        return link if not link.right_values else replace(link, right_values={})
    flat = flat_asset(
        int(values.get("company") or 0),
        int(values.get("layout") or 0),
        str(values.get("name") or ""),
        dict(values.get("fields") or {}),
        dict(values.get("custom") or {}),
    )
    return replace(link, left_values=flat, right_values={})


class SerialIndex:
    """Unlinked Hudu assets of a company by primary serial, read once per company (`GET /companies/{id}/assets`),
    and only for a company that has something to create."""

    def __init__(self, hudu: HuduClient, store: Store, tenant: str, pair: str) -> None:
        self.hudu, self.store, self.tenant, self.pair = hudu, store, tenant, pair
        self._by_company: dict[int, dict[str, dict[str, Any]]] = {}

    async def take(self, company_id: int, serial: str) -> dict[str, Any] | None:
        """The unlinked asset with this serial, removed from the index: one asset is adopted once."""
        if company_id not in self._by_company:
            self._by_company[company_id] = await self._load(company_id)
        return self._by_company[company_id].pop(serial.strip().lower(), None)

    async def _load(self, company_id: int) -> dict[str, dict[str, Any]]:
        assets = [a async for page in self.hudu.stream_company_assets(company_id) for a in page]
        linked = await self.store.links_by_right(self.tenant, self.pair, [str(a["id"]) for a in assets])
        out: dict[str, dict[str, Any]] = {}
        for asset in assets:
            if str(asset["id"]) not in linked and not asset.get("archived") and asset.get("primary_serial"):
                out.setdefault(str(asset["primary_serial"]).strip().lower(), asset)
        return out
