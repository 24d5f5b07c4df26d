"""The device inventory in the store (CB-7): devices by ConnectWise configuration id, and the devices of a change.

::

    devices = DeviceStore(store, tenant="default")
    await devices.apply_page(page_plan)                 # one transaction: inserts and updates of one page
    await devices.find(hostname="fw", company="ACME")   # hostname contains "fw"
    await devices.by_hostname("lls-fw01")               # exact (every company)
    await devices.of_change("CHG-1")                    # the devices a change mentions

The links of a change to its devices are written by `ChangeStore` together with the event that mentions them
(`link_devices`, inside the event's transaction), so a change never shows devices of an event that did not apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cwsync.integrations.devices.models import Device
from cwsync.store import Reads, Store, Tx
from cwsync.store.bulk import bulk_insert
from cwsync.store.changes_tables import CHANGE_DEVICES, DEVICES

__all__ = ["DEVICE_FIELDS", "ROW_FIELDS", "DeviceStore", "PagePlan", "link_devices"]

DEVICE_FIELDS = (
    "hostname",
    "name",
    "device_type",
    "cw_type",
    "company_id",
    "company",
    "serial",
    "status",
    "cw_last_updated",
)
"""The stored values of a device that a sync compares (besides its configuration id)."""
ROW_FIELDS = ("cw_id", *DEVICE_FIELDS)
"""A device upserted by a sync, as a tuple of these values (typed: `cw_id` and `company_id` numbers,
`cw_last_updated` an aware datetime)."""
_IN_CHUNK = 500
_UPSERTED = ("tenant", *ROW_FIELDS, "updated_at", "deleted")
_EXISTING_NAMES = ("id", "cw_id", "deleted", *DEVICE_FIELDS)
_EXISTING_COLUMNS = select(*(DEVICES.c[name] for name in _EXISTING_NAMES))
_EXISTING = _EXISTING_COLUMNS.where(
    DEVICES.c.tenant == bindparam("tenant"), DEVICES.c.cw_id.in_(bindparam("ids", expanding=True))
)
"""The devices of some configuration ids (`existing`): made once, the ids bound as one list (not a literal each)."""
_EXISTING_RANGE = _EXISTING_COLUMNS.where(
    DEVICES.c.tenant == bindparam("tenant"), DEVICES.c.cw_id.between(bindparam("low"), bindparam("high"))
)
"""The devices of a range of configuration ids (`existing` of a page: its ids are about consecutive)."""


@dataclass
class PagePlan:
    """What a batch of writes changes in the inventory: devices upserted (by configuration id; `ROW_FIELDS` tuples,
    a thousand per batch), devices removed."""

    upserts: list[tuple[Any, ...]] = field(default_factory=list)
    removals: list[int] = field(default_factory=list)


class DeviceStore:
    """The `devices` and `change_devices` tables of one tenant."""

    def __init__(self, store: Store, *, tenant: str) -> None:
        self._store = store
        self.tenant = tenant

    async def existing(self, cw_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The stored values (`DEVICE_FIELDS`, the row id and `deleted`) of these configurations, by configuration
        id."""

        wanted = set(cw_ids)
        low, high = (min(wanted), max(wanted)) if wanted else (0, -1)
        dense = len(wanted) >= _IN_CHUNK and high - low < 2 * len(wanted)  # a page of a forward-only read

        async def body(reads: Reads) -> dict[int, dict[str, Any]]:  # `Store.read`: on SQLite, at once (no thread)
            found: dict[int, dict[str, Any]] = {}
            if dense:  # one range by the (tenant, cw_id) index, not a thousand ids bound
                bounds = {"tenant": self.tenant, "low": low, "high": high}
                for row in await reads.connection.execute(_EXISTING_RANGE, bounds):
                    if row[1] in wanted:
                        found[row[1]] = dict(zip(_EXISTING_NAMES, row, strict=True))
                return found
            for start in range(0, len(cw_ids), _IN_CHUNK):
                chunk = list(cw_ids[start : start + _IN_CHUNK])
                for row in await reads.connection.execute(_EXISTING, {"tenant": self.tenant, "ids": chunk}):
                    found[row[1]] = dict(zip(_EXISTING_NAMES, row, strict=True))
            return found

        return await self._store.read(body)

    async def apply_page(self, plan: PagePlan) -> None:
        """Upsert the batch's devices (by configuration id: a batch sent twice makes one device each; a device
        marked deleted is no longer, its configuration is back) and remove the removed ones, in one transaction."""
        if not plan.upserts and not plan.removals:
            return
        now = datetime.now(UTC)

        async def body(tx: Tx) -> None:  # `Store.write`: on SQLite, at once (no driver-thread trip per statement)
            conn = tx.connection
            if plan.upserts:
                rows = [(self.tenant, *values, now, False) for values in plan.upserts]
                await bulk_insert(conn, DEVICES, rows, columns=_UPSERTED, conflict=("tenant", "cw_id"))
            for start in range(0, len(plan.removals), _IN_CHUNK):
                chunk = plan.removals[start : start + _IN_CHUNK]
                await conn.execute(delete(DEVICES).where(DEVICES.c.tenant == self.tenant, DEVICES.c.cw_id.in_(chunk)))

        await self._store.write(body)

    async def mark(self, cw_ids: Iterable[int], *, deleted: bool = True) -> int:
        """Mark these devices deleted in ConnectWise (kept, `on_delete: ignore`), or clear the mark; how many."""
        ids, now = sorted(set(cw_ids)), datetime.now(UTC)

        async def body(tx: Tx) -> int:  # `Store.write`, as `apply_page`
            marked = 0
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                where = (DEVICES.c.tenant == self.tenant, DEVICES.c.cw_id.in_(chunk))
                statement = update(DEVICES).where(*where).values(deleted=deleted, updated_at=now)
                marked += (await tx.connection.execute(statement)).rowcount
            return marked

        return await self._store.write(body)

    async def cw_ids(self) -> set[int]:
        """Every configuration id held."""
        statement = select(DEVICES.c.cw_id).where(DEVICES.c.tenant == self.tenant)
        async with self._store._connect() as conn:
            return set((await conn.execute(statement)).scalars())

    async def delete(self, cw_ids: Iterable[int]) -> int:
        """Remove these devices (configurations gone from ConnectWise or out of scope); returns how many."""
        ids, removed = sorted(set(cw_ids)), 0
        async with self._store._connect(write=True) as conn, conn.begin():
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                where = (DEVICES.c.tenant == self.tenant, DEVICES.c.cw_id.in_(chunk))
                removed += (await conn.execute(delete(DEVICES).where(*where))).rowcount
        return removed

    async def find(
        self, *, hostname: str | None = None, company: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Device]:
        """Devices whose hostname contains `hostname` (any case), of `company` (identifier or id), by hostname."""
        statement = select(DEVICES).where(DEVICES.c.tenant == self.tenant)
        if hostname:
            pattern = "%" + _escape(hostname.strip().lower()) + "%"
            statement = statement.where(DEVICES.c.hostname.like(pattern, escape="\\"))
        if company:
            statement = statement.where(_company_is(company))
        statement = statement.order_by(DEVICES.c.hostname, DEVICES.c.cw_id).limit(limit).offset(offset)
        return await self._devices(statement)

    async def by_hostname(self, hostname: str, *, company_id: int | None = None) -> list[Device]:
        """The devices with exactly this hostname (any case), optionally of one ConnectWise company."""
        statement = select(DEVICES).where(DEVICES.c.tenant == self.tenant, DEVICES.c.hostname == hostname.lower())
        if company_id is not None:
            statement = statement.where(DEVICES.c.company_id == company_id)
        return await self._devices(statement.order_by(DEVICES.c.cw_id))

    async def by_hostnames(self, hostnames: Sequence[str]) -> list[Device]:
        """The devices with any of these hostnames (lower-cased), every company."""
        wanted = sorted({h.lower() for h in hostnames})
        if not wanted:
            return []
        statement = select(DEVICES).where(DEVICES.c.tenant == self.tenant, DEVICES.c.hostname.in_(wanted))
        return await self._devices(statement.order_by(DEVICES.c.cw_id))

    async def count(self) -> int:
        """How many devices are held."""
        statement = select(func.count()).select_from(DEVICES).where(DEVICES.c.tenant == self.tenant)
        async with self._store._connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def of_change(self, change_id: str) -> list[Device]:
        """The devices a change mentions, by hostname (a device removed since is left out)."""
        joined = DEVICES.join(
            CHANGE_DEVICES, (CHANGE_DEVICES.c.tenant == DEVICES.c.tenant) & (CHANGE_DEVICES.c.cw_id == DEVICES.c.cw_id)
        )
        statement = (
            select(DEVICES)
            .select_from(joined)
            .where(CHANGE_DEVICES.c.tenant == self.tenant, CHANGE_DEVICES.c.change_id == change_id)
            .order_by(DEVICES.c.hostname)
        )
        return await self._devices(statement)

    async def changes_of(self, cw_id: int) -> list[str]:
        """The changes that mention a device, oldest link first."""
        statement = (
            select(CHANGE_DEVICES.c.change_id)
            .where(CHANGE_DEVICES.c.tenant == self.tenant, CHANGE_DEVICES.c.cw_id == cw_id)
            .order_by(CHANGE_DEVICES.c.id)
        )
        async with self._store._connect() as conn:
            return list((await conn.execute(statement)).scalars())

    async def _devices(self, statement: Any) -> list[Device]:
        async with self._store._connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [_device_of(row) for row in rows]


async def link_devices(conn: Any, tenant: str, change_id: str, event_id: str, devices: Sequence[Device]) -> None:
    """Link a change to devices inside the caller's transaction (a device linked already stays as it was)."""
    if not devices:
        return
    now = datetime.now(UTC)
    rows = [
        {"tenant": tenant, "change_id": change_id, "cw_id": d.cw_id, "hostname": d.hostname, "event_id": event_id}
        | {"linked_at": now}
        for d in devices
    ]
    insert: Any = pg_insert(CHANGE_DEVICES) if conn.dialect.name == "postgresql" else sqlite_insert(CHANGE_DEVICES)
    await conn.execute(insert.on_conflict_do_nothing(index_elements=["tenant", "change_id", "cw_id"]), rows)


def _company_is(company: str) -> Any:
    text = company.strip()
    if text.isdigit():
        return DEVICES.c.company_id == int(text)
    return func.lower(DEVICES.c.company) == text.lower()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _device_of(row: Any) -> Device:
    return Device(
        cw_id=row.cw_id,
        hostname=row.hostname,
        name=row.name,
        device_type=row.device_type,
        cw_type=row.cw_type,
        company_id=row.company_id,
        company=row.company,
        serial=row.serial,
        status=row.status,
        cw_last_updated=row.cw_last_updated,
        updated_at=row.updated_at,
        deleted=bool(row.deleted),
    )
