"""ConnectWise → SQL tables in the store's database (the job django-connectwise does for Django users).

Five pairs, one table each (`cw_companies`, `cw_contacts`, `cw_configurations`, `cw_opportunities`, `cw_tickets`):
the mapped columns below and the whole record as `raw` JSON. Written only against the engine contract: a mapping,
a flattener, the ConnectWise source and a table target; the engine does the rest (cursor, intents, deletions behind
the mass-delete guard, replay, history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cwsync.config.mirror import MirrorObject, MirrorSync
from cwsync.config.vocabulary import Direction
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.engine.pair import Pair, Write, WriteResult
from cwsync.engine.reading import last_updated
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.store import Store
from cwsync.store.mirror import MIRROR_COLUMNS, mirror_table, row_values

__all__ = ["OBJECTS", "MirrorObjectSpec", "TableTarget", "flatten", "mirror_pairs", "pair_name"]


@dataclass(frozen=True)
class MirrorObjectSpec:
    """One mirrored object: its endpoint, its table, and column → ConnectWise path (`a/b` walks references)."""

    path: str
    table: str
    columns: Mapping[str, str]


OBJECTS: dict[MirrorObject, MirrorObjectSpec] = {
    "companies": MirrorObjectSpec(
        "company/companies",
        "cw_companies",
        {
            "identifier": "identifier",
            "name": "name",
            "status": "status/name",
            "type": "types/0/name",
            "phone": "phoneNumber",
            "website": "website",
            "address": "addressLine1",
            "city": "city",
            "state": "state",
            "zip": "zip",
            "country": "country/name",
            "deleted": "deletedFlag",
        },
    ),
    "contacts": MirrorObjectSpec(
        "company/contacts",
        "cw_contacts",
        {
            "first_name": "firstName",
            "last_name": "lastName",
            "title": "title",
            "email": "@email",
            "phone": "@phone",
            "company_id": "company/id",
            "inactive": "inactiveFlag",
        },
    ),
    "configurations": MirrorObjectSpec(
        "company/configurations",
        "cw_configurations",
        {
            "name": "name",
            "type": "type/name",
            "status": "status/name",
            "company_id": "company/id",
            "serial_number": "serialNumber",
            "model_number": "modelNumber",
            "contact_id": "contact/id",
        },
    ),
    "opportunities": MirrorObjectSpec(
        "sales/opportunities",
        "cw_opportunities",
        {
            "name": "name",
            "status": "status/name",
            "stage": "stage/name",
            "type": "type/name",
            "company_id": "company/id",
            "contact_id": "contact/id",
            "sales_rep": "primarySalesRep/identifier",
            "close_date": "expectedCloseDate",
        },
    ),
    "tickets": MirrorObjectSpec(
        "service/tickets",
        "cw_tickets",
        {
            "summary": "summary",
            "board": "board/name",
            "status": "status/name",
            "priority": "priority/name",
            "type": "type/name",
            "company_id": "company/id",
            "contact_id": "contact/id",
            "closed": "closedFlag",
        },
    ),
}
assert all(tuple(spec.columns) == MIRROR_COLUMNS[spec.table] for spec in OBJECTS.values())


STAMP = "@last_updated"
"""Mapped too (not a column): any change in ConnectWise, even to a field no column holds, rewrites the row's `raw`."""


def pair_name(kind: str) -> str:
    """The store pair of a mirrored object: `mirror:tickets`."""
    return f"mirror:{kind}"


def flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A record as flat fields keyed by path: `status/name`, `types/0/name`, and `@email` / `@phone` (a contact's
    default e-mail and phone among its communication items)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key != "_info":
                    walk(f"{prefix}{key}/", inner)
        elif isinstance(value, list) and prefix.rstrip("/") != "communicationItems":
            for n, inner in enumerate(value[:3]):
                walk(f"{prefix}{n}/", inner)
        else:
            flat[prefix.rstrip("/")] = value

    walk("", raw)
    updated = last_updated(raw)
    flat[STAMP] = updated.isoformat() if updated else None
    items = [i for i in raw.get("communicationItems") or [] if isinstance(i, Mapping)]
    for column, kind in (("@email", "Email"), ("@phone", "Phone")):
        of_kind = [i for i in items if str(i.get("communicationType") or "").lower() == kind.lower()]
        chosen = next((i for i in of_kind if i.get("defaultFlag")), of_kind[0] if of_kind else None)
        flat[column] = chosen.get("value") if chosen else None
    return flat


def mapping(kind: MirrorObject) -> ObjectMapping:
    """The object's columns as a one-way mapping (ConnectWise → table)."""
    spec = OBJECTS[kind]
    columns = {**spec.columns, STAMP: STAMP}
    fields = tuple(
        FieldMap(name=column, left=path, right=column, direction=Direction.TO_RIGHT) for column, path in columns.items()
    )
    return ObjectMapping(pair_name(kind), spec.path, spec.table, fields, (), Direction.TO_RIGHT)


class TableTarget:
    """A mirror table as an engine `Target`: rows upserted by ConnectWise id (so a replayed write cannot double)."""

    def __init__(self, store: Store, tenant: str, table: str) -> None:
        self.store, self.tenant, self.table = store, tenant, table
        self.calls = 0
        """Transactions written."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """Rows an earlier attempt wrote (the id is the ConnectWise id)."""
        found = await self.store.mirror_ids(self.table, self.tenant, [w.left_id for w in writes])
        return {i: i for i in found}

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """One transaction per batch: upserts, then deletes."""
        upserts = [w for w in writes if w.action != "delete"]
        deletes = [w.left_id for w in writes if w.action == "delete"]
        table = mirror_table(self.table)
        rows = [row_values(table, self.tenant, w.left_id, w.values, w.raw, last_updated(w.raw)) for w in upserts]
        self.calls += 1
        async with self.store.transaction() as tx:
            await tx.mirror_upsert(self.table, rows)
            if deletes:
                await tx.mirror_delete(self.table, self.tenant, deletes)
        return [WriteResult(w, right_id=w.left_id) for w in writes]


def mirror_pairs(config: MirrorSync, cw: ConnectWiseClient, store: Store, tenant: str) -> list[Pair]:
    """The configured objects as engine pairs, in the order of `OBJECTS`."""
    out = []
    for kind, spec in OBJECTS.items():
        if kind not in config.objects:
            continue
        out.append(
            Pair(
                name=pair_name(kind),
                mapping=mapping(kind),
                source=ConnectWiseSource(cw, spec.path),
                target=TableTarget(store, tenant, spec.table),
                flatten=flatten,
                batch=config.batch,
                on_delete=config.on_delete,
                mass_delete_share=config.mass_delete_share,
                mass_delete_setting="syncs.mirror.mass_delete_share",
            )
        )
    return out
