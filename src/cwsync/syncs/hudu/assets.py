"""The Hudu asset data types as engine pairs: the records of matched companies → assets, planned by `Engine.run`.

One pair per data type (`hudu:sites`, `hudu:contacts`, `hudu:agreements`), built per run from what the companies
step and the layouts decided: ConnectWise company id → Hudu company id (a stand-in id at or below `PLANNED` for a
company a dry run would create), the layouts by name, the site assets (`Location` asset tags) and, when the run
verifies, the ids of the assets Hudu still has. The projection (`integrations.hudu.flat_asset`) is planned through
a one-way `ObjectMapping`; the Hudu rules are the engine's hooks: inactive records are skipped (`skip`), inactive or
expired agreements archived (`retire`), a rename is written only with `auto_update_asset_names` (`frozen`), a new
company or layout re-creates the asset and archives the old one (`moves`), an asset deleted in Hudu is created again
(`lost`), and an incremental read is valid only for the matched companies and options it was made with (`scope`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cwsync.config.vocabulary import Direction
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.engine.pair import Pair, Raw
from cwsync.engine.reading import chunks, last_updated
from cwsync.integrations.hudu import HuduAssetTarget, flat_asset
from cwsync.store import Link
from cwsync.syncs.hudu.config import DataType, HuduSync
from cwsync.syncs.hudu.plan import LayoutInfo
from cwsync.syncs.hudu.shapes import Source, agreement_source, asset_values, contact_source, site_source

__all__ = ["ENGINE_TYPES", "PLANNED", "AssetSource", "asset_pair"]

ENGINE_TYPES: tuple[DataType, ...] = ("sites", "contacts", "agreements")
"""The data types `Engine.run` plans (configurations still run through `run.py`'s own loop)."""
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
SITE_COMPANY = "_cwsync_company_id"
"""Where a site read from `company/companies/{id}/sites` keeps its company (a site record does not name it)."""


class AssetSource:
    """The ConnectWise records of one data type of the matched companies, a page at a time (an engine `Source`):
    sites per company (8 companies at once, always all of them), the other types by `company/id in (...)`, changed
    since the cursor on an incremental run."""

    def __init__(self, cw: ConnectWiseClient, kind: DataType, companies: Sequence[int]) -> None:
        self.cw, self.kind, self.companies = cw, kind, sorted(companies)

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

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        wanted = {str(i) for i in ids}
        if self.kind == "sites":
            return [s async for page in self.changed(None) for s in page if str(s["id"]) in wanted]
        out: list[Raw] = []
        for chunk in chunks(sorted(int(i) for i in wanted), CHUNK):
            async for page in self.cw.stream(PATHS[self.kind], conditions=F("id").in_(chunk)):
                out.extend(r for r in page if _company_of(r) in self.companies)
        return out

    def updated_at(self, raw: Raw) -> datetime | None:
        return last_updated(raw)

    async def _sites(self, company_id: int) -> list[Raw]:
        path = f"company/companies/{company_id}/sites"
        return [{**s, SITE_COMPANY: company_id} async for page in self.cw.stream(path) for s in page]


def _company_of(record: Mapping[str, Any]) -> int | None:
    ref = record.get("company")
    return int(ref["id"]) if isinstance(ref, Mapping) and ref.get("id") is not None else None


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
    today: datetime | None = None,
) -> Pair:
    """The pair of one data type for this run (see the module's docstring)."""
    mapping = asset_mapping(kind, sync, layouts)
    names = [f.name for f in mapping.fields]

    def flatten(raw: Raw) -> Mapping[str, Any]:
        if kind == "sites":
            source = site_source(raw, int(raw[SITE_COMPANY]), sync)
        elif kind == "contacts":
            source = contact_source(raw, sync)
        else:
            source = agreement_source(raw, sync, today)
        return {"source": source}

    def place(source: Source) -> tuple[int | None, LayoutInfo | None]:
        return companies.get(source.cw_company_id), layouts.get(source.layout.strip().lower())

    def project(flat: Mapping[str, Any]) -> Mapping[str, str | None]:
        source: Source = flat["source"]
        company, layout = place(source)
        if company is None or layout is None:
            return dict.fromkeys(names)
        site_asset = sites.get(source.site_id) if source.site_id is not None else None
        extra = {"Location": [site_asset]} if site_asset is not None else {}
        builtins = {k: v for k, v in source.builtins.items() if v is not None}
        values = flat_asset(
            company, layout.layout_id, source.name, builtins, asset_values(source, layout.labels, extra)
        )
        return {n: values.get(n) for n in names}

    def skip(flat: Mapping[str, Any]) -> str | None:
        source: Source = flat["source"]
        company, layout = place(source)
        if source.skip and kind != "agreements":
            return source.skip
        if company is None:
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
        source=AssetSource(cw, kind, list(companies)),
        target=target,
        flatten=flatten,
        project=project,
        skip=skip,
        retire=retire,
        notes=notes,
        batch=25,
        in_flight=in_flight,
        on_delete="ignore",
        reconcile=False,
        target_label="Hudu",
        deleted_as="archived",
        stored=stored_asset_link,
        lost=lost,
        frozen={}
        if sync.auto_update_asset_names
        else {"name": "renamed in ConnectWise; auto_update_asset_names is off"},
        moves=frozenset({"company", "layout"}),
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
