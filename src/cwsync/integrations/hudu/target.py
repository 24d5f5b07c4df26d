"""Hudu assets as an engine `Target`: one request per record (Hudu has no batch endpoints), a batch fanned out at
once under the client's own concurrency cap.

A write's values are an asset's flat projection (`syncs.hudu.shapes.flat_asset`): `company`, `layout`, `name`,
`fields.<built-in>` and `custom.<Label>` (structured custom values as JSON text). A create is a POST in the company
(and, when it replaces an asset — its company or layout changed — the old one's archive); an update is a PUT of the
values that differ from what the link holds; a delete archives the asset (Hudu's integrations never delete one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cwsync.connectors.http import CwsyncApiError, FatalError
from cwsync.connectors.hudu import HuduClient, label_key
from cwsync.engine.pair import Write, WriteResult
from cwsync.store import Store

__all__ = ["HuduAssetTarget", "HuduCompanyTarget", "asset_body", "asset_name_key", "company_values", "flat_asset"]

STRUCTURED = frozenset({label_key("Address"), label_key("Location")})
"""Custom fields whose values are objects or lists (an address, asset tags): JSON text in the flat projection."""


def flat_asset(
    company: int, layout: int, name: str, fields: Mapping[str, Any], custom: Mapping[str, Any]
) -> dict[str, str | None]:
    """An asset as the engine plans it: `company`, `layout`, `name`, `fields.<built-in>`, `custom.<Label>`."""
    out: dict[str, str | None] = {"company": str(company), "layout": str(layout), "name": name}
    out.update({f"fields.{k}": None if v is None else str(v) for k, v in fields.items()})
    for label, value in custom.items():
        text = value if isinstance(value, str) or value is None else json.dumps(value, sort_keys=True)
        out[f"custom.{label}"] = text
    return out


def asset_body(values: Mapping[str, Any], *, keep_empty: bool = False) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A flat projection (or the part of it that changed) as Hudu's name, built-in fields and custom fields by
    label; None values are left out unless `keep_empty` (an update: None clears the field)."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in values.items():
        if value is None and not keep_empty:
            continue
        if key.startswith("fields."):
            fields[key[len("fields.") :]] = value
        elif key.startswith("custom."):
            label = key[len("custom.") :]
            structured = label_key(label) in STRUCTURED and isinstance(value, str)
            custom[label] = json.loads(value) if structured else value
    return str(values.get("name") or ""), fields, custom


def asset_name_key(layout_id: Any, name: Any) -> str:
    """What finds an asset an earlier attempt created: its layout and name."""
    return f"{layout_id}:{str(name or '').strip().lower()}"


class HuduAssetTarget:
    """The assets of one store pair (`hudu:contacts`, ...) in Hudu."""

    def __init__(self, hudu: HuduClient, store: Store, tenant: str, pair: str) -> None:
        self.hudu, self.store, self.tenant, self.pair = hudu, store, tenant, pair
        self.calls = 0
        """Hudu write requests made."""
        self._unlinked: dict[int, dict[str, dict[str, Any]]] = {}

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """Assets an earlier attempt created but never recorded: looked up in their company by layout and name among
        the assets no link holds (the company's assets are read once, `GET /companies/{id}/assets`)."""
        found: dict[str, str] = {}
        for write in writes:
            company = _int(write.values.get("company"))
            if company is None or company <= 0:
                continue
            if company not in self._unlinked:
                self._unlinked[company] = await self._load(company)
            asset = self._unlinked[company].pop(
                asset_name_key(write.values.get("layout"), write.values.get("name")), None
            )
            if asset is not None:
                found[write.left_id] = str(asset["id"])
        return found

    async def _load(self, company_id: int) -> dict[str, dict[str, Any]]:
        assets = [a async for page in self.hudu.stream_company_assets(company_id) for a in page]
        linked = await self.store.links_by_right(self.tenant, self.pair, [str(a["id"]) for a in assets])
        out: dict[str, dict[str, Any]] = {}
        for asset in assets:
            if str(asset["id"]) not in linked and not asset.get("archived"):
                out.setdefault(asset_name_key(asset.get("asset_layout_id"), asset.get("name")), asset)
        return out

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Every write at once (the client caps the requests in flight); a record-level failure fails that record."""
        return list(await asyncio.gather(*(self._one(w) for w in writes)))

    async def _one(self, write: Write) -> WriteResult:
        try:
            return WriteResult(write, right_id=await self._write(write))
        except FatalError:
            raise
        except CwsyncApiError as exc:
            return WriteResult(write, right_id=write.right_id, error=exc)

    async def _write(self, write: Write) -> str | None:
        values, previous = write.values, write.previous
        company = _int(values.get("company"))
        if company is None:
            raise CwsyncApiError(f"ConnectWise record {write.left_id} has no Hudu company")
        if write.action == "delete":
            self.calls += 1
            await self.hudu.archive_asset(_int(previous.get("company")) or company, int(str(write.right_id)))
            return write.right_id
        if write.action == "create":
            name, fields, custom = asset_body(values)
            self.calls += 1
            record = await self.hudu.create_asset(
                company, name=name, asset_layout_id=int(str(values["layout"])), fields=fields, custom_fields=custom
            )
            right_id = str(record["id"])
        else:
            changed = {k: v for k, v in values.items() if k not in previous or _blank(previous[k]) != v}
            name, fields, custom = asset_body(changed, keep_empty=bool(previous))
            fields = fields | ({"name": name} if "name" in changed else {})
            right_id = str(write.right_id)
            if fields or custom:
                self.calls += 1
                await self.hudu.update_asset(company, int(right_id), fields=fields, custom_fields=custom)
        if write.replaces is not None:
            self.calls += 1
            await self.hudu.archive_asset(_int(previous.get("company")) or company, int(write.replaces))
        return right_id


def _blank(value: Any) -> Any:
    return None if value == "" else value


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


class HuduCompanyTarget:
    """Hudu companies (the parent of every asset): a create POSTs the company's details, an update PUTs the ones
    that changed (a value ConnectWise no longer has is left as Hudu holds it). `find` links a company an earlier
    attempt created but never recorded: by name among the Hudu companies no link holds."""

    def __init__(self, hudu: HuduClient, companies: Mapping[int, Mapping[str, Any]], held: set[str]) -> None:
        self.hudu, self.companies, self.held = hudu, companies, held
        self.calls = 0
        self.written: dict[str, Mapping[str, Any]] = {}
        """Hudu id → the company as Hudu answered a write (its URL for the link)."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        by_name = {
            str(c.get("name") or "").strip().lower(): str(i)
            for i, c in self.companies.items()
            if str(i) not in self.held
        }
        found: dict[str, str] = {}
        for write in writes:
            hudu_id = by_name.pop(str(write.values.get("name") or "").strip().lower(), None)
            if hudu_id is not None:
                found[write.left_id] = hudu_id
        return found

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        return list(await asyncio.gather(*(self._one(w) for w in writes)))

    async def _one(self, write: Write) -> WriteResult:
        try:
            if write.action == "create":
                self.calls += 1
                record = await self.hudu.create_company(dict(write.values))
            elif write.action == "delete":  # `on_delete: archive` (Hudu's integrations never delete a company)
                self.calls += 1
                record = await self.hudu.archive_company(int(str(write.right_id)))
            else:
                changed = {
                    k: v for k, v in write.values.items() if v is not None and _blank(write.previous.get(k)) != v
                }
                if not changed:
                    return WriteResult(write, right_id=write.right_id)
                self.calls += 1
                record = await self.hudu.update_company(int(str(write.right_id)), changed)
        except FatalError:
            raise
        except CwsyncApiError as exc:
            return WriteResult(write, right_id=write.right_id, error=exc)
        right_id = str(record.get("id") or write.right_id)
        return WriteResult(write, right_id=right_id, right_values=company_values(record))


def company_values(company: Mapping[str, Any]) -> dict[str, Any]:
    """What a company link keeps of the Hudu side: its id, name and where it is (for the deep link)."""
    return {
        "id": company.get("id"),
        "name": company.get("name"),
        "url": company.get("full_url") or company.get("url"),
    }
