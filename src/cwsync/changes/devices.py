"""ConnectWise configurations → the device inventory (CB-7), and `@hostname` mentions in a change's text.

::

    sync = DeviceSync(client=cw, store=store, config=changes.devices, tenant="default", company_ids=[250])
    report = await sync.run()              # incremental by `lastUpdated` (full on the first run)
    report = await sync.run(full=True)     # every configuration; devices gone from ConnectWise are removed
    report = await sync.run(records=[42])  # only these configurations now (replay, a callback); cursor untouched

A run streams configurations (only the fields a device needs, 1,000 per page, and only the mapped companies'
when `companies: mapped`; the next page is fetched while the current one is stored), plans each page with the
pure `plan_page` (create / update / unchanged / skipped for an unmapped type) and applies it in one transaction. The
cursor (the newest `lastUpdated` read, never later than the run's start) is stored when the run has finished, so a
crash re-reads, and a re-read is harmless: an unchanged configuration is not written. An incremental run re-reads
`overlap_seconds` before the cursor. When the type mapping or the company scope changes, the next run is a full one
by itself. A full run also removes the devices whose configurations are gone.

`mentions` finds `@hostname` in text (an e-mail address is not a mention).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from cwsync.changes.device_store import DEVICE_FIELDS, DeviceStore, PagePlan
from cwsync.changes.errors import ChangeRefused
from cwsync.changes.models import DeviceSyncReport, DeviceView
from cwsync.config.changes import DevicesConfig
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import Condition, F, all_of
from cwsync.connectors.http import CwsyncApiError
from cwsync.engine.guard import check_mass_delete
from cwsync.engine.reading import ReadAhead, chunks, last_updated
from cwsync.engine.record import Recorder
from cwsync.engine.runs import cancel_point, recorded_run
from cwsync.store import Store
from cwsync.store.records import Counts, RunItem, RunKind, Trigger

__all__ = ["CONFIG_FIELDS", "PAIR", "DeviceSync", "device_view", "mentions", "plan_page", "project", "sync_of"]

log = structlog.get_logger("cwsync.changes.devices")

Record = dict[str, Any]
PAIR = "devices"
"""The pair name of device runs and of their cursor in the store."""
CONFIG_FIELDS = "id,name,type/name,company/id,company/identifier,serialNumber,status/name,_info/lastUpdated"
PAGE_SIZE = 1000
ID_CHUNK = 100
"""Configuration ids per `id in (...)` condition of a replay (keeps the URL short)."""
NO_NAME = "(no name)"
_MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


# -- pure -----------------------------------------------------------------------------------------------------------


def mentions(*texts: str | None) -> list[str]:
    """The `@hostname`s in the texts, lower-cased, in first-mentioned order (`bob@x.example` is not one)."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _MENTION.finditer(text or ""):
            found.setdefault(match.group(1).lower(), None)
    return list(found)


def project(raw: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any] | str:
    """A configuration as a device's stored values (`cw_id` and `DEVICE_FIELDS`), or why it is skipped."""
    cw_type = _ref(raw.get("type"), "name")
    if cw_type not in types:
        return cw_type or "(no type)"
    name = str(raw.get("name") or "").strip()
    if not name:
        return NO_NAME
    ref = raw.get("company")
    company: Mapping[str, Any] = ref if isinstance(ref, Mapping) else {}
    return {
        "cw_id": int(raw["id"]),
        "hostname": name.lower()[:255],
        "name": name[:255],
        "device_type": types[cw_type],
        "cw_type": cw_type,
        "company_id": company.get("id") if isinstance(company.get("id"), int) else None,
        "company": _ref(company, "identifier") or None,
        "serial": (str(raw["serialNumber"])[:255] or None) if raw.get("serialNumber") else None,
        "status": _ref(raw.get("status"), "name") or None,
        "cw_last_updated": last_updated(raw),
    }


def plan_page(
    rows: Sequence[Mapping[str, Any]], existing: Mapping[int, Mapping[str, Any]], types: Mapping[str, str]
) -> PagePlan:
    """What a page of configurations changes: new devices, changed ones, unchanged, skipped by type or reason.

    A held device whose configuration is now skipped (its type is no longer mapped) is removed.
    """
    plan = PagePlan()
    for raw in rows:
        values = project(raw, types)
        if isinstance(values, str):
            plan.skipped[values] = plan.skipped.get(values, 0) + 1
            if int(raw["id"]) in existing:
                plan.removals.append(int(raw["id"]))
            continue
        held = existing.get(values["cw_id"])
        if held is None:
            plan.creates.append(values)
        elif any(held.get(name) != values[name] for name in DEVICE_FIELDS):
            plan.updates.append(values | {"row_id": held["id"]})
        else:
            plan.unchanged += 1
    return plan


def scope_key(types: Mapping[str, str], company_ids: Sequence[int] | None) -> str:
    """A digest of what a run imports: when it changes, the cursor no longer covers the inventory."""
    text = json.dumps({"types": dict(sorted(types.items())), "companies": sorted(company_ids or [])})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _ref(value: Any, key: str) -> str:
    return str(value.get(key) or "") if isinstance(value, Mapping) else ""


# -- lookups ------------------------------------------------------------------------------------------------------


async def device_view(devices: DeviceStore, hostname: str, *, company: str | None = None) -> DeviceView:
    """The device with this hostname (any case), of `company` (identifier or id) when given, and its changes.

    Raises:
        ChangeRefused: `unknown_device`; `ambiguous_device` when companies share the hostname (give `company`).
    """
    wanted = hostname.strip().lstrip("@").lower()
    found = await devices.by_hostname(wanted)
    if company:
        key = company.strip().lower()
        found = [d for d in found if (d.company or "").lower() == key or str(d.company_id) == key]
    if not found:
        scope = f" of company {company!r}" if company else ""
        raise ChangeRefused("unknown_device", f"no device{scope} has the hostname {wanted!r}")
    if len(found) > 1:
        companies = ", ".join(sorted({d.company or str(d.company_id) for d in found}))
        raise ChangeRefused(
            "ambiguous_device", f"{len(found)} devices have the hostname {wanted!r} ({companies}): give the company"
        )
    return DeviceView(device=found[0], changes=await devices.changes_of(found[0].cw_id))


def sync_of(sync: DeviceSync | None) -> DeviceSync:
    """The device sync, or a refusal saying how to set it up.

    Raises:
        ChangeRefused: `devices_not_configured`.
    """
    if sync is None:
        raise ChangeRefused(
            "devices_not_configured", "device sync is not configured: add `devices: {types: {...}}` under changes"
        )
    return sync


# -- the run --------------------------------------------------------------------------------------------------------


class DeviceSync:
    """Syncs ConnectWise configurations of mapped types into the device inventory; one run at a time per instance."""

    def __init__(
        self,
        *,
        client: ConnectWiseClient,
        store: Store,
        config: DevicesConfig,
        tenant: str,
        company_ids: Sequence[int] | None = None,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`company_ids`: the ConnectWise companies in scope (None: every company); `page_size`: at most 1,000."""
        self.client = client
        self.store = store
        self.config = config
        self.tenant = tenant
        self.devices = DeviceStore(store, tenant=tenant)
        self.company_ids = list(company_ids) if company_ids is not None else None
        self.page_size = page_size
        self._clock = clock
        self._lock = asyncio.Lock()

    async def run(
        self,
        *,
        full: bool = False,
        trigger: Trigger = "cli",
        progress: Callable[[str, int], None] | None = None,
        totals: Callable[[str, int], None] | None = None,
        records: Sequence[int | str] | None = None,
    ) -> DeviceSyncReport:
        """One sync run (incremental unless `full`, or nothing was synced yet, or the mapping changed); `progress`
        is told of the configurations read, page by page, and `totals` of ConnectWise's count of them (a CLI bar).

        With `records` (configuration ids), only those are read and synced now (BY-2 replay, a ConnectWise
        callback), each with a run item saying what became of it; one ConnectWise no longer has (or that left the
        company scope) is removed from the inventory. The cursor stays where it is.

        Raises:
            CwsyncApiError: ConnectWise failed; the run is recorded as failed, the cursor stays where it was.
        """
        if records is not None:
            return await self._replay(sorted({int(i) for i in records}), trigger=trigger)
        async with self._lock:
            started = self._clock()
            key = scope_key(self.config.types, self.company_ids)
            since = _since(await self.store.cursor(self.tenant, PAIR, "left"), key)
            kind: RunKind = "full" if full or since is None else "incremental"
            state: _RunState | None = None
            scope = recorded_run(
                self.store,
                self.tenant,
                pairs=[PAIR],
                kind=kind,
                trigger=trigger,
                counts=lambda: state.counts() if state is not None else Counts(),
            )
            async with scope as run:
                assert run.run_id is not None
                state = _RunState(run_id=run.run_id, kind="full" if kind == "full" else "incremental")
                await self._pages(state, None if kind == "full" else since, progress, totals)
                await self._finish(state, key, started, since)
            state.cancelled = run.cancelled
            log.info("devices.synced", **state.report().model_dump(exclude={"skipped_types"}))
            return state.report()

    async def _replay(self, ids: list[int], *, trigger: Trigger) -> DeviceSyncReport:
        async with self._lock:
            state: _RunState | None = None
            scope = recorded_run(
                self.store,
                self.tenant,
                pairs=[PAIR],
                kind="record",
                trigger=trigger,
                counts=lambda: state.counts() if state is not None else Counts(),
            )
            async with scope as run:
                assert run.run_id is not None
                state = _RunState(run_id=run.run_id, kind="record")
                rows: list[Record] = []
                for chunk in chunks(ids, ID_CHUNK):
                    conditions = all_of(F("id").in_(chunk), *self._scope())
                    async for page in self.client.stream(
                        "company/configurations", conditions=conditions, fields=CONFIG_FIELDS, page_size=self.page_size
                    ):
                        rows.extend(page)
                existing = await self.devices.existing(ids)
                plan = plan_page(rows, existing, self.config.types)
                gone = [i for i in ids if i in existing and i not in {int(row["id"]) for row in rows}]
                plan.removals.extend(gone)
                await self.devices.apply_page(plan)
                state.add(plan, rows)  # the removals counted as deleted, the gone ones among them
                await self._replay_items(state, plan, rows, gone)
            return state.report()

    async def _replay_items(
        self, state: _RunState, plan: PagePlan, rows: Sequence[Record], gone: Sequence[int]
    ) -> None:
        """One run item per replayed configuration (`cwsync explain`, the history): what became of it and why."""
        recorder = Recorder(self.store, self.tenant, PAIR, state.run_id)
        created = {v["cw_id"] for v in plan.creates}
        updated = {v["cw_id"] for v in plan.updates}
        items: list[RunItem] = []
        for row in rows:
            cw_id, values = int(row["id"]), project(row, self.config.types)
            if isinstance(values, str):
                removed = cw_id in plan.removals
                why = _skip_reason(values, 1) + ("; removed from the inventory" if removed else "")
                items.append(recorder.item("delete" if removed else "skip", left_id=str(cw_id), reason=why))
                continue
            action = "create" if cw_id in created else "update" if cw_id in updated else "unchanged"
            reason = {"create": "new configuration", "update": "changed in ConnectWise"}.get(action, "unchanged")
            items.append(
                recorder.item(action, left_id=str(cw_id), reason=reason, source_values=_jsonable(values))  # type: ignore[arg-type]
            )
        for cw_id in gone:
            reason = "not found in ConnectWise (deleted, or out of the company scope): removed from the inventory"
            items.append(recorder.item("delete", left_id=str(cw_id), reason=reason))
        async with self.store.transaction() as tx:
            await tx.add_run_items(items)

    def _scope(self) -> list[Condition]:
        return [F("company/id").in_(self.company_ids or [0])] if self.company_ids is not None else []

    async def _pages(
        self,
        state: _RunState,
        since: datetime | None,
        progress: Callable[[str, int], None] | None = None,
        totals: Callable[[str, int], None] | None = None,
    ) -> None:
        if since is not None:
            state.since = (since - timedelta(seconds=self.config.overlap_seconds)).replace(microsecond=0)
        conditions = self._conditions(state.since)
        counting = asyncio.create_task(self._count(conditions, totals)) if totals is not None else None
        stream = self.client.stream(
            "company/configurations", conditions=conditions, fields=CONFIG_FIELDS, page_size=self.page_size
        )
        try:
            async for rows in ReadAhead(stream):
                await cancel_point(self.store, state.run_id, settle=lambda: self._record_skips(state))
                ids = [int(row["id"]) for row in rows]
                plan = plan_page(rows, await self.devices.existing(ids), self.config.types)
                await self.devices.apply_page(plan)
                state.add(plan, rows)
                if progress is not None:
                    progress(PAIR, len(rows))
        finally:
            if counting is not None and not counting.done():
                counting.cancel()

    async def _record_skips(self, state: _RunState) -> None:
        """A run cancelled at a page boundary: its skips so far are recorded; its cursor does not move."""
        async with self.store.transaction() as tx:
            await tx.add_run_items(state.skip_items(Recorder(self.store, self.tenant, PAIR, state.run_id)))

    async def _count(self, conditions: Condition | None, totals: Callable[[str, int], None]) -> None:
        """ConnectWise's count of the configurations this run reads, for a progress total (a failed count only
        loses the total)."""
        try:
            totals(PAIR, await self.client.count("company/configurations", conditions=conditions))
        except CwsyncApiError as exc:
            log.debug("devices.count_failed", error=str(exc))

    def _conditions(self, since: datetime | None) -> Condition | None:
        parts: list[Condition] = [F("lastUpdated") >= since] if since is not None else []
        parts.extend(self._scope())
        return all_of(*parts) if parts else None

    async def _finish(self, state: _RunState, key: str, started: datetime, since: datetime | None) -> None:
        if state.kind == "full":
            held = await self.devices.cw_ids()
            gone = held - state.seen
            share, setting = self.config.mass_delete_share, "syncs.changes.devices.mass_delete_share"
            check_mass_delete(PAIR, len(gone), len(held), share, setting=setting, what="removed")
            if self.config.on_delete == "delete":
                state.deleted += await self.devices.delete(gone)
            state.gone = sorted(gone)
        newest = min(state.newest, started) if state.newest else (started if state.kind == "full" else since)
        async with self.store.transaction() as tx:
            if newest is not None:
                await tx.set_cursor(self.tenant, PAIR, "left", json.dumps({"since": newest.isoformat(), "key": key}))
            items = state.skip_items(Recorder(self.store, self.tenant, PAIR, state.run_id), self.config.on_delete)
            await tx.add_run_items(items)


class _RunState:
    """The tallies of a run in progress."""

    def __init__(self, *, run_id: int, kind: str) -> None:
        self.run_id, self.kind = run_id, kind
        self.since: datetime | None = None
        self.read = self.created = self.updated = self.unchanged = self.deleted = self.pages = 0
        self.skipped: dict[str, int] = {}
        self.seen: set[int] = set()
        self.gone: list[int] = []
        """Devices whose configurations a full read did not find (removed, or kept under `on_delete: ignore`)."""
        self.newest: datetime | None = None
        self.cancelled = False

    def add(self, plan: PagePlan, rows: Sequence[Mapping[str, Any]]) -> None:
        self.pages += 1
        self.read += len(rows)
        self.created += len(plan.creates)
        self.updated += len(plan.updates)
        self.unchanged += plan.unchanged
        self.deleted += len(plan.removals)
        for reason, n in plan.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.seen.update(values["cw_id"] for values in (*plan.creates, *plan.updates))
        self.seen.update(int(row["id"]) for row in rows)
        stamps = [s for s in (last_updated(row) for row in rows) if s is not None]
        if stamps:
            self.newest = max([*stamps, *([self.newest] if self.newest else [])])

    def counts(self) -> Counts:
        return Counts(
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=sum(self.skipped.values()),
            deleted=self.deleted,
        )

    def skip_items(self, recorder: Recorder, on_delete: str = "delete") -> list[RunItem]:
        """The run's items: one per device gone from ConnectWise (#13), and one per skipped configuration type."""
        removed = on_delete == "delete"
        why = "not found in ConnectWise (full read): " + (
            "removed from the device inventory (on_delete: delete)" if removed else "device kept (on_delete: ignore)"
        )
        gone = [recorder.item("delete" if removed else "skip", left_id=str(cw_id), reason=why) for cw_id in self.gone]
        return gone + [
            recorder.item(
                "skip",
                reason=_skip_reason(reason, n),
                source_values={"type" if reason != NO_NAME else "problem": reason, "count": n},
            )
            for reason, n in sorted(self.skipped.items())
        ]

    def report(self) -> DeviceSyncReport:
        return DeviceSyncReport(
            run_id=self.run_id,
            kind="full" if self.kind == "full" else "record" if self.kind == "record" else "incremental",
            since=self.since.isoformat() if self.since else None,
            read=self.read,
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=sum(self.skipped.values()),
            deleted=self.deleted,
            pages=self.pages,
            skipped_types=dict(sorted(self.skipped.items())),
            cancelled=self.cancelled,
        )


def _skip_reason(reason: str, n: int) -> str:
    if reason == NO_NAME:
        return f"{n} configurations have no name (no hostname to find them by)"
    return f"configuration type {reason!r} is not mapped to a device type ({n} configurations)"


def _since(cursor: str | None, key: str) -> datetime | None:
    """The stored cursor's moment, if it was made with the same mapping and scope."""
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
        moment = datetime.fromisoformat(data["since"])
    except (ValueError, KeyError, TypeError):
        return None
    return moment if data.get("key") == key else None


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
