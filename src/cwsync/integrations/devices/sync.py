"""ConnectWise configurations → the device inventory (CB-7), and `@hostname` mentions in a change's text.

::

    sync = DeviceSync(client=cw, store=store, config=changes.devices, tenant="default", company_ids=[250])
    report = await sync.run()              # incremental by `lastUpdated` (full on the first run)
    report = await sync.run(full=True)     # every configuration; devices gone from ConnectWise are removed
    report = await sync.run(records=[42])  # only these configurations now (replay, a callback); cursor untouched

One engine pair (`engine.Engine`): configurations (only the fields a device needs, 1,000 per page, only the mapped
companies' when `companies: mapped`) → the device table, which holds the links itself (`DeviceTable`: a device row
is the link of its configuration, so nothing is written twice) and whose creates are upserts by configuration id
(no intents needed). The engine reads ahead, plans each page through `core.plan` (create / update / unchanged;
a configuration of an unmapped type or without a name is skipped, and its device removed when one is held),
records a run item per decision, keeps the cursor (capped by the run's start, re-read `overlap_seconds` before) with
the digest of the type mapping and company scope (a change of either makes the next run a full one), removes on a
full run the devices whose configurations are gone (behind the mass-delete guard), and replays chosen ids.

`mentions` finds `@hostname` in text (an e-mail address is not a mention).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import operator
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from cwsync.config.changes import DevicesConfig
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.core.mapping import one_way
from cwsync.engine.engine import Engine
from cwsync.engine.oneway import DELETED, Decision
from cwsync.engine.pair import Pair, Raw, Write, WriteResult
from cwsync.engine.reading import Cursors, last_updated
from cwsync.engine.report import RunReport
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.integrations.devices.models import DeviceSyncReport
from cwsync.integrations.devices.table import DEVICE_FIELDS, ROW_FIELDS, DeviceStore, PagePlan
from cwsync.store import Link, Store
from cwsync.store.records import Trigger

__all__ = [
    "CONFIG_FIELDS",
    "PAIR",
    "SKIPPED",
    "DeviceSync",
    "DeviceTable",
    "device_links",
    "device_pair",
    "device_values",
    "mentions",
    "project",
]

log = structlog.get_logger("cwsync.integrations.devices.sync")

PAIR = "devices"
"""The pair name of device runs and of their cursor in the store."""
CONFIG_FIELDS = "id,name,type/name,company/id,company/identifier,serialNumber,status/name,_info/lastUpdated"
PAGE_SIZE = 1000
NO_NAME = "(no name)"
SKIPPED = "@skipped"
"""In a skipped configuration's flat form and projection: the unmapped type (or `NO_NAME`) it was skipped for."""
_MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
MAPPING = one_way(PAIR, "company/configurations", "devices", DEVICE_FIELDS)
"""The device's stored fields, one way: what planning compares."""


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
    values = device_values(raw, types)
    return values if isinstance(values, str) else stored(str(raw["id"]), values)


def device_values(raw: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, str | None] | str:
    """A configuration as a device's values in the form planning compares (`canonical` of what `project` gives,
    made in one pass: a first sync projects every configuration), or why it is skipped."""
    cw_type = _ref(raw.get("type"), "name")
    if cw_type not in types:
        return cw_type or "(no type)"
    name = raw.get("name")
    name = (name if type(name) is str else str(name or "")).strip()
    if not name:
        return NO_NAME
    ref = raw.get("company")
    company: Mapping[str, Any] = ref if type(ref) is dict or isinstance(ref, Mapping) else {}
    company_id = company.get("id")
    serial = raw.get("serialNumber")
    return {
        "hostname": name.lower()[:255],
        "name": name[:255],
        "device_type": types[cw_type] or None,
        "cw_type": cw_type or None,
        "company_id": str(company_id) if type(company_id) is int else None,  # not a JSON true
        "company": _ref(company, "identifier") or None,
        "serial": (str(serial)[:255] or None) if serial else None,
        "status": _ref(raw.get("status"), "name") or None,
        "cw_last_updated": _moment(raw),
    }


def _moment(raw: Mapping[str, Any]) -> str | None:
    """A configuration's `lastUpdated` as planning compares it (UTC, ISO-8601): ConnectWise's own form,
    `2026-01-02T03:04:05Z` (digits between the separators, checked by parsing it), is already that text but for its
    `Z`, so it is rewritten without a conversion; any other form is converted."""
    info = raw.get("_info")
    text = info.get("lastUpdated") if type(info) is dict else None
    if type(text) is str and len(text) == 20 and text.isascii() and text[4::3][:5] + text[19] == _CW_MOMENT:
        utc = text[:19] + "+00:00"
        try:
            datetime.fromisoformat(utc)
            return utc
        except ValueError:
            pass  # no moment: as `last_updated` finds
    moment = last_updated(raw)
    return None if moment is None else moment.astimezone(UTC).isoformat()


def canonical(values: Mapping[str, Any]) -> dict[str, str | None]:
    """A device's stored values as planning compares them (text; a naive time from the store is UTC)."""
    out: dict[str, str | None] = {}
    for name in DEVICE_FIELDS:
        value = values.get(name)
        if type(value) is str:  # most of a stored device: no conversion
            out[name] = value or None
            continue
        if isinstance(value, datetime):
            zone = value.tzinfo
            value = (
                value.replace(tzinfo=UTC) if zone is None else value if zone is UTC else value.astimezone(UTC)
            ).isoformat()
        out[name] = None if value is None or value == "" else str(value)
    return out


def stored(cw_id: str, values: Mapping[str, str | None]) -> dict[str, Any]:
    """A device's row values from what planning compared (`canonical`, which `project` made): the typed values
    back, without projecting the configuration a second time."""
    return dict(zip(ROW_FIELDS, stored_row(cw_id, values), strict=True))


def stored_row(cw_id: str, values: Mapping[str, str | None]) -> tuple[Any, ...]:
    """`stored` as a tuple in `ROW_FIELDS` order (`DeviceStore.apply_page` takes these)."""
    try:
        row: list[Any] = list(_VALUES(values))  # every field there: what planning gives (a KeyError is rare)
    except KeyError:
        row = [values.get(name) for name in DEVICE_FIELDS]
    company_id, moment = row[_COMPANY_ID], row[_MOMENT]
    row[_COMPANY_ID] = int(company_id) if company_id is not None else None
    row[_MOMENT] = datetime.fromisoformat(moment) if moment is not None else None
    return (int(cw_id), *row)


_COMPANY_ID, _MOMENT = DEVICE_FIELDS.index("company_id"), DEVICE_FIELDS.index("cw_last_updated")
_CW_MOMENT = "--T::Z"
"""The separators of ConnectWise's moments (`2026-01-02T03:04:05Z`: at 4, 7, 10, 13 and 16, and the last)."""
_VALUES = operator.itemgetter(*DEVICE_FIELDS)


def flatten(raw: Raw, types: Mapping[str, str]) -> dict[str, Any]:
    """A configuration as a device's values (`device_values`: already canonical), or `{SKIPPED: why}` for one that
    is no device."""
    values = device_values(raw, types)
    return {SKIPPED: values} if isinstance(values, str) else values


def skip_reason(kind: str) -> str:
    """Why a configuration is no device: its type (`kind`) is not mapped, or it has no name."""
    if kind == NO_NAME:
        return "the configuration has no name (no hostname to find it by)"
    return f"configuration type {kind!r} is not mapped to a device type"


def scope_key(types: Mapping[str, str], company_ids: Sequence[int] | None) -> str:
    """A digest of what a run imports: when it changes, the cursor no longer covers the inventory."""
    text = json.dumps({"types": dict(sorted(types.items())), "companies": sorted(company_ids or [])})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _ref(value: Any, key: str) -> str:
    if type(value) is dict or isinstance(value, Mapping):  # decoded JSON: a dict, told without the ABC's check
        text = value.get(key)
        return text if type(text) is str else str(text or "")
    return ""


# -- the pair -------------------------------------------------------------------------------------------------------


class DeviceTable:
    """The device table as the pair's target and its links: a device row is the link of its configuration (by
    configuration id), and a create is an upsert by that id, so a write sent twice makes one device."""

    def __init__(self, devices: DeviceStore, types: Mapping[str, str]) -> None:
        self.devices, self.types = devices, types
        self.calls = 0
        """Transactions written."""

    async def by_left(self, ids: Sequence[str]) -> dict[str, Link]:
        """The devices of these configuration ids, as links holding what was written."""
        rows = await self.devices.existing([int(i) for i in ids])
        return {str(cw_id): self._link(cw_id, row) for cw_id, row in rows.items()}

    async def count(self) -> int:
        return await self.devices.count()

    async def ids(self) -> AsyncIterator[list[tuple[str, str]]]:
        held = sorted(await self.devices.cw_ids())
        for start in range(0, len(held), 5000):
            yield [(str(i), str(i)) for i in held[start : start + 5000]]

    async def mark(self, ids: Sequence[str]) -> None:
        """Keep these devices, marked deleted in ConnectWise (`on_delete: ignore`): the next write clears it."""
        self.calls += 1
        await self.devices.mark([int(i) for i in ids])

    def _link(self, cw_id: int, row: Mapping[str, Any]) -> Link:
        tenant = self.devices.tenant
        values: dict[str, Any] = canonical(row)  # a new dict: the mark goes in it
        if row.get("deleted"):
            values[DELETED] = "ignore"  # its configuration was deleted: not reconciled again, written in full if back
        return Link(tenant=tenant, pair=PAIR, left_id=str(cw_id), right_id=str(cw_id), left_values=values)

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """Devices an earlier attempt wrote (their id is the configuration id)."""
        held = await self.devices.existing([int(w.left_id) for w in writes])
        return {str(i): str(i) for i in held}

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """One transaction per batch: devices upserted from their configurations, removed ones deleted."""
        plan = PagePlan()
        for write in writes:
            if write.action == "delete":
                plan.removals.append(int(write.left_id))
                continue
            plan.upserts.append(stored_row(write.left_id, write.values))
        self.calls += 1
        await self.devices.apply_page(plan)
        return [WriteResult(w, right_id=w.left_id) for w in writes]


def device_links(store: Store, tenant: str) -> DeviceTable:
    """The device pair's links (its devices) for reading: `explain`."""
    return DeviceTable(DeviceStore(store, tenant=tenant), {})


def device_pair(
    client: ConnectWiseClient,
    devices: DeviceStore,
    config: DevicesConfig,
    company_ids: Sequence[int] | None = None,
    *,
    page_size: int = PAGE_SIZE,
) -> Pair:
    """Configurations of `company_ids` (every company when None) → the device table, as one engine pair."""
    types = dict(config.types)
    table = DeviceTable(devices, types)
    scope = F("company/id").in_(list(company_ids) or [0]) if company_ids is not None else None
    return Pair(
        name=PAIR,
        mapping=MAPPING,
        source=ConnectWiseSource(
            client, "company/configurations", fields=CONFIG_FIELDS, page_size=page_size, scope=scope
        ),
        target=table,
        links=table,
        upserts=True,
        flatten=lambda raw: flatten(raw, types),
        project=_projection,
        retire=lambda flat: skip_reason(flat[SKIPPED]) if SKIPPED in flat else None,
        batch=page_size,
        on_delete=config.on_delete,
        target_label="the device inventory",
        deleted_as="removed",
        mass_delete_share=config.mass_delete_share,
        mass_delete_setting="syncs.changes.devices.mass_delete_share",
        overlap=timedelta(seconds=config.overlap_seconds),
        scope=scope_key(types, company_ids),
    )


def _projection(flat: Mapping[str, Any]) -> Mapping[str, str | None]:
    """The planned values of a flat form from `flatten`: the flat form itself (`device_values` made it canonical,
    and nothing changes it), or none but the skip reason."""
    if SKIPPED in flat:
        return {**_NONE, SKIPPED: flat[SKIPPED]}
    return flat


_NONE: dict[str, str | None] = dict.fromkeys(DEVICE_FIELDS)


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
        is told of the configurations decided, and `totals` of ConnectWise's count of them (a CLI bar).

        With `records` (configuration ids), only those are read and synced now (BY-2 replay, a ConnectWise
        callback), each with a run item saying what became of it; one ConnectWise no longer has (or that left the
        company scope) is removed from the inventory. The cursor stays where it is.

        Raises:
            CwsyncApiError: ConnectWise failed; the run is recorded as failed, the cursor stays where it was.
        """
        pair = device_pair(self.client, self.devices, self.config, self.company_ids, page_size=self.page_size)
        async with self._lock:
            since: datetime | None = None
            if records is None:
                cursor = await Cursors(self.store, self.tenant, PAIR, pair.scope).read()
                full = full or cursor is None
                since = None if full or cursor is None else cursor - pair.overlap
            tally = _Tally(progress)
            ids = {PAIR: [str(int(i)) for i in records]} if records is not None else None
            engine = Engine(self.store, self.tenant, now=self._clock)
            outcome = await engine.run(
                [pair], full=full, records=ids, trigger=trigger, observe=tally.observe, totals=totals
            )
            kind = "record" if records is not None else "full" if full else "incremental"
            report = tally.report(outcome, kind, since, pair)
            log.info("devices.synced", **report.model_dump(exclude={"skipped_types"}))
            return report


class _Tally:
    """What a run decided, as the device report counts it (the unmapped types skipped, by type)."""

    def __init__(self, progress: Callable[[str, int], None] | None) -> None:
        self.progress = progress
        self.skipped_types: dict[str, int] = {}

    def observe(self, _pair: str, decision: Decision) -> None:
        kind = decision.values.get(SKIPPED)
        if decision.action in ("skip", "delete") and kind:
            self.skipped_types[str(kind)] = self.skipped_types.get(str(kind), 0) + 1
        if self.progress is not None:
            self.progress(PAIR, 1)

    def report(
        self, outcome: RunReport[dict[str, Any]], kind: str, since: datetime | None, pair: Pair
    ) -> DeviceSyncReport:
        assert outcome.run_id is not None
        one = outcome.pairs[0]
        counts = one.counts
        return DeviceSyncReport(
            run_id=outcome.run_id,
            kind=kind,
            since=since.isoformat() if since else None,
            read=one.read,
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            skipped=sum(self.skipped_types.values()),
            deleted=counts.deleted,
            pages=getattr(pair.source, "pages", 0),
            skipped_types=dict(sorted(self.skipped_types.items())),
            cancelled=outcome.cancelled,
        )
