"""Deletions in ConnectWise, written once against the contract and run for every pair × each policy it offers (#13).

For each case a linked ConnectWise record is deleted in the sandbox (no callback) and the pair's deletion path runs
— a full run where the pair reconciles (HubSpot, devices, the mirror), the one-record path (a callback, a replay)
where it does not (Hudu, catalog; the mirror both) — then:

- the counterpart's state is the policy's: archived, deleted, flagged, or left as it was (`ignore`, `unlink`);
- the link is dropped (`archive` without a tombstone, `delete`, `unlink`) or kept marked (`flag`, `ignore`, a
  tombstone) — never dangling: the record brought back and changed syncs again without a failure;
- a run item of that record gives the reason;
- the next run (a full one as well) writes nothing.

Deleted on the target side (a HubSpot object or product archived, a Hudu asset deleted or archived, a mirror row or
a device deleted by hand): the record's next change syncs without a failure, twice, and it ends linked as the
pair's rule says (re-created, kept archived, or marked).

Plus one mass-delete case per pair family: deleting more than the guard's share of the links stops the run, and
nothing is written or unlinked. Worlds are shared per family (module fixtures, small data): each case deletes its
own record, and the guard cases, which break their world, run last.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cwsync.engine.engine import Engine
from cwsync.engine.guard import MassDeleteError
from cwsync.integrations.catalog.engine import CatalogEngine
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.integrations.hubspot.run import HubSpotSync
from cwsync.integrations.hudu.assets import AssetSource
from cwsync.integrations.hudu.run import HuduSyncEngine
from cwsync.integrations.mirror import mirror_pairs, pair_name
from cwsync.logs import configure_logging
from cwsync.workflows.changes.devices import sync_of
from cwsync.workflows.changes.workflow import ChangeWorkflow
from tests.catalog.conftest import CATALOG_SECTION
from tests.changes.conftest import changes_config
from tests.contract.pairs import DEVICE_TYPES, HuduPair, _store
from tests.contract.rig import Data, World, world
from tests.syncs_hudu.conftest import hudu_sync_section

pytestmark = pytest.mark.loopback
WRITES = ("created", "updated", "deleted", "linked")


# -- what each pair is ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One pair of a family: its store pair, the ConnectWise entity and API path, the field a later change sets."""

    family: str
    pair: str
    entity: str
    path: str | None
    """The ConnectWise API path that changes a record (None: the record is only brought back)."""
    field: str
    kind: str
    """The family's name of the object (HubSpot object, Hudu data type, mirror object)."""

    def __str__(self) -> str:
        return f"{self.family}:{self.kind}"


def links(w: World, pair: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The pair's links: ConnectWise id → (target id, left values)."""
    with sqlite3.connect(w.db, timeout=5) as conn:
        rows = conn.execute("SELECT left_id, right_id, left_values FROM links WHERE pair = ?", (pair,)).fetchall()
    return {str(left): (str(right), json.loads(values) if values else {}) for left, right, values in rows}


def items_of(w: World, pair: str, left_id: str) -> list[tuple[str, str]]:
    """The run items of one record, newest first: (action, reason)."""
    with sqlite3.connect(w.db, timeout=5) as conn:
        rows = conn.execute(
            "SELECT action, reason FROM run_items WHERE pair = ? AND left_id = ? ORDER BY id DESC", (pair, left_id)
        ).fetchall()
    return [(str(a), str(r)) for a, r in rows]


def configure(w: World, family: str, kind: str, policy: str) -> None:
    """Set the case's `on_delete` in the world's configuration file (JSON is YAML)."""
    body = json.loads(w.config_path.read_text(encoding="utf-8"))
    syncs = body["syncs"]
    if family == "hubspot":
        syncs["hubspot"] = {"objects": {kind: {"on_delete": policy}}}
    elif family == "hudu":
        syncs["hudu"]["on_delete"] = {kind: policy}
    elif family == "catalog":
        syncs["catalog"]["on_delete"] = policy
    elif family == "devices":
        syncs["changes"]["devices"]["on_delete"] = policy
    else:
        syncs["mirror"]["on_delete"] = policy
    w.config_path.write_text(json.dumps(body, indent=2), encoding="utf-8")


def restore(w: World, entity: str, record_id: int) -> None:
    """Bring a record deleted by `World.delete_cw` back (as it was)."""
    w.cw.store.overlay[entity].pop(record_id, None)


async def change(w: World, case: Case, record_id: int) -> None:
    """A ConnectWise change to the record (one text field), through the API."""
    if case.path is None:
        return
    async with w.cw_client() as cw:
        await cw.patch(
            case.path, record_id, [{"op": "replace", "path": case.field, "value": f"Changed after delete {record_id}"}]
        )


# -- running each family -------------------------------------------------------------------------------------------


async def run_family(
    w: World,
    case: Case,
    *,
    full: bool,
    record: int | None = None,
    every: bool = False,
    records: list[int] | None = None,
) -> dict[str, int]:
    """One run of the case's pair (`every`: of all its family's pairs; `record`, `records`: its one-record path):
    its counts."""
    family, kind = case.family, case.kind
    ids = records if records is not None else None if record is None else [record]
    async with _store(w) as store, w.cw_client() as cw:
        if family == "hubspot":
            async with w.hubspot_client() as hs:
                report = await HubSpotSync(w.config, store, cw, hs).run(full=full, objects=None if every else [kind])
            return report.counts.as_dict()
        if family == "hudu":
            async with w.hudu_client() as hudu:
                engine = HuduSyncEngine(w.config, store, cw, hudu)
                chosen = None if ids is None else {kind: [str(i) for i in ids]}
                only = None if ids is not None or every else [kind]
                hudu_report = await engine.run(records=chosen, only=only, full=full)  # type: ignore[arg-type]
            return hudu_report.counts.as_dict()
        if family == "catalog":
            async with w.hubspot_client() as hs:
                catalog = CatalogEngine(w.config, store, cw, hs)
                done = await (catalog.sync_products(ids) if ids is not None else catalog.run(full=full))
            return done.counts.as_dict()
        if family == "devices":
            changes = w.config.syncs.changes
            assert changes is not None
            workflow = await ChangeWorkflow.start(client=cw, store=store, config=changes, tenant=w.config.tenant)
            r = await sync_of(workflow.device_sync).run(full=full)
            return {"created": r.created, "updated": r.updated, "deleted": r.deleted, "failed": 0}
        mirror = w.config.syncs.mirror
        assert mirror is not None
        pairs = mirror_pairs(mirror, cw, store, w.config.tenant)
        engine_ = Engine(store, w.config.tenant)
        records_ = None if ids is None else {case.pair: [str(i) for i in ids]}
        outcome = await engine_.run(pairs, full=full, records=records_)
        return outcome.counts.as_dict()


def detect(w: World, case: Case, record_id: int, via: str) -> dict[str, int]:
    """The run that finds the deletion: the one-record path (`callback`: a callback, a replay), a full run's
    reconciliation (`full`), or both, the callback first (`both`, the mirror)."""
    if via in ("callback", "both"):
        counts = asyncio.run(run_family(w, case, full=False, record=record_id))
        if via == "callback":
            return counts
        assert counts["failed"] == 0, counts
    return asyncio.run(run_family(w, case, full=True))


VIA = {"hubspot": ("full",), "hudu": ("callback", "full"), "catalog": ("callback", "full"), "devices": ("full",)}
"""How each family finds a deletion (the mirror: `both`)."""


def device_deleted(w: World, cw_id: int) -> bool | None:
    """The device's `deleted` mark (None: no device row)."""
    with sqlite3.connect(w.db, timeout=5) as conn:
        row = conn.execute("SELECT deleted FROM devices WHERE cw_id = ?", (cw_id,)).fetchone()
    return None if row is None else bool(row[0])


# -- the counterpart's state ---------------------------------------------------------------------------------------


def counterpart(w: World, case: Case, right_id: str) -> str:
    """`live`, `flagged`, `archived` or `gone`."""
    if case.family in ("hubspot", "catalog"):
        kind = "products" if case.family == "catalog" else case.kind
        state = w.hubspot.state
        props = state.records[kind].get(int(right_id))
        if props is not None:
            return "flagged" if str(props.get("cw_deleted", "")).lower() == "true" else "live"
        return "archived" if int(right_id) in state.archived[kind] else "gone"
    if case.family == "hudu":
        hudu = w.hudu.state
        held = hudu.companies if case.kind == "companies" else hudu.assets
        record = held.get(int(right_id))
        return "gone" if record is None else "archived" if record.get("archived") else "live"
    table = "devices" if case.family == "devices" else f"cw_{case.kind}"
    column = "cw_id" if case.family == "devices" else "id"
    with sqlite3.connect(w.db, timeout=5) as conn:
        found = conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (int(right_id),)).fetchone()
    return "live" if found else "gone"


EXPECTED = {"archive": "archived", "delete": "gone", "flag": "flagged", "ignore": "live", "unlink": "live"}
KEEPS_LINK = {"flag", "ignore"}


# -- the worlds ----------------------------------------------------------------------------------------------------


FAMILIES: dict[str, tuple[Data, Callable[[], dict[str, Any]]]] = {
    "hubspot": (
        Data(records=0, seed=5, counts={"companies": 12, "contacts": 18, "opportunities": 12}),
        lambda: {"hubspot": {}},
    ),
    "hudu": (
        Data(
            records=0,
            seed=5,
            counts={"companies": 12, "contacts": 16, "configurations": 24, "agreements": 16, "sites": 12},
        ),
        lambda: {"hudu": hudu_sync_section()},
    ),
    "catalog": (Data(records=24, seed=5, counts={"catalog_items": 40}), lambda: {"catalog": dict(CATALOG_SECTION)}),
    "devices": (
        Data(records=0, seed=7, counts={"companies": 12, "configurations": 60}),
        lambda: {"changes": changes_config(devices={"types": DEVICE_TYPES})},
    ),
    "mirror": (
        Data(records=24, seed=5, counts={"tickets": 16, "companies": 8, "contacts": 16}),
        lambda: {"mirror": {"objects": ["companies", "contacts", "tickets"], "batch": 50}},
    ),
}


class Worlds:
    """One synced world per family, opened on first use and kept for the module."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.open, self._stack = tmp, {}, []  # type: ignore[var-annotated]
        self.used: set[tuple[str, str]] = set()
        self.moved: set[str] = set()
        """Families where a record came back as a new counterpart (a new id its dependents have not followed yet)."""

    def get(self, family: str) -> World:
        if family not in self.open:
            data, syncs = FAMILIES[family]
            ctx = world(data, self.tmp, syncs(), family)
            w = ctx.__enter__()
            self._stack.append(ctx)
            if family == "hudu":
                HuduPair.prepare(HuduPair("hudu", data, {}, (), "hudu"), w)
            counts = asyncio.run(run_family(w, CASES_OF[family][0], full=True, every=True))  # the first sync
            assert counts["failed"] == 0, (family, counts)
            self.open[family] = w
        return self.open[family]

    def pick(self, w: World, case: Case, *, holding: str | None = None) -> tuple[int, str]:
        """A linked record no other case took (whose link holds a value of the field `holding`, when given):
        (ConnectWise id, target id)."""
        held = links(w, case.pair) if case.family != "devices" else self._devices(w)
        for left_id in sorted(held, key=int):
            if (case.pair, left_id) not in self.used and self._whole(w, case.entity, int(left_id)):
                right_id, values = held[left_id]
                wanted = holding is None or values.get(holding) is not None
                if wanted and counterpart(w, case, right_id) == "live" and "cwsync:deleted" not in values:
                    self.used.add((case.pair, left_id))
                    return int(left_id), right_id
        raise AssertionError(f"{case}: no linked record left to delete")

    @staticmethod
    def _whole(w: World, entity: str, record_id: int) -> bool:
        """The record exists, and so does its company (another case may have deleted that one)."""
        record = w.cw_record(entity, record_id)
        company = (record or {}).get("company")
        company_id = company.get("id") if isinstance(company, dict) else None
        return record is not None and (company_id is None or w.cw_record("companies", int(company_id)) is not None)

    def _devices(self, w: World) -> dict[str, tuple[str, dict[str, Any]]]:
        with sqlite3.connect(w.db, timeout=5) as conn:
            rows = conn.execute("SELECT cw_id FROM devices").fetchall()
        return {str(r[0]): (str(r[0]), {}) for r in rows}

    def close(self) -> None:
        for ctx in reversed(self._stack):
            ctx.__exit__(None, None, None)


CASES = [
    *(
        Case("hubspot", k, e, p, f, k)
        for k, e, p, f in (
            ("companies", "companies", "company/companies", "name"),
            ("contacts", "contacts", "company/contacts", "firstName"),
            ("deals", "opportunities", "sales/opportunities", "name"),
        )
    ),
    Case("hudu", "hudu:companies", "companies", "company/companies", "name", "companies"),
    Case("hudu", "hudu:contacts", "contacts", "company/contacts", "title", "contacts"),
    Case("hudu", "hudu:sites", "sites", None, "name", "sites"),
    Case("hudu", "hudu:configurations", "configurations", "company/configurations", "ipAddress", "configurations"),
    Case("hudu", "hudu:agreements", "agreements", "finance/agreements", "customerPO", "agreements"),
    Case("catalog", "catalog:products", "catalog_items", "procurement/catalog", "description", "products"),
    Case("devices", "devices", "configurations", "company/configurations", "name", "devices"),
    *(
        Case("mirror", pair_name(k), k, p, f, k)
        for k, p, f in (
            ("companies", "company/companies", "name"),
            ("contacts", "company/contacts", "firstName"),
            ("tickets", "service/tickets", "summary"),
        )
    ),
]
CASES_OF: dict[str, list[Case]] = {}
for _case in CASES:
    CASES_OF.setdefault(_case.family, []).append(_case)
POLICIES = {
    "hubspot": ("archive", "flag", "unlink", "ignore"),
    "hudu": ("archive", "unlink", "ignore"),  # companies: archive, ignore (`HUDU_COMPANY` below)
    "catalog": ("archive", "flag", "unlink", "ignore"),
    "devices": ("delete", "ignore"),
    "mirror": ("delete", "unlink", "ignore"),
}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    """Only errors are logged (as `cwsync` logs with `CWSYNC_LOG_LEVEL=error`): the in-process runs' debug lines
    would cost more than the runs (the suite's autouse fixture puts structlog's defaults back afterwards)."""
    configure_logging("error")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worlds]:
    held = Worlds(tmp_path_factory.mktemp("deletions"))
    try:
        yield held
    finally:
        held.close()


def _writes(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: counts.get(k, 0) for k in (*WRITES, "failed")}


# -- the property ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "policy", "via"),
    [
        pytest.param(c, p, v, id=f"{c}-{p}-{v}")
        for c in CASES
        for p in POLICIES[c.family]
        for v in VIA.get(c.family, ("both",))
        if not (c.pair == "hudu:companies" and p == "unlink")  # refused at load (tests/config)
    ],
)
def test_a_deletion_in_connectwise_applies_the_policy_and_leaves_no_dangling_link(
    worlds: Worlds, case: Case, policy: str, via: str
) -> None:
    """The counterpart as the policy says, the link dropped or marked, the reason recorded, the next run a no-op,
    and the record, brought back and changed, syncs without a failure — whether the deletion is found by the
    one-record path or by a full run's reconciliation (confirmed by id). A device kept by `ignore` is marked
    `deleted`, and the mark is cleared when its configuration comes back."""
    w = worlds.get(case.family)
    configure(w, case.family, case.kind, policy)
    if case.family in worlds.moved:  # an earlier case re-created a record (a site, a company): its dependents follow
        assert asyncio.run(run_family(w, case, full=True, every=True))["failed"] == 0
        worlds.moved.discard(case.family)
    record_id, right_id = worlds.pick(w, case)
    w.delete_cw(case.entity, [record_id])

    counts = detect(w, case, record_id, via)
    assert counts["failed"] == 0, counts
    assert counterpart(w, case, right_id) == EXPECTED[policy]
    if case.family == "devices":
        assert device_deleted(w, record_id) is (True if policy == "ignore" else None)
    if case.family != "devices":  # the device table is its own record (no links)
        link = links(w, case.pair).get(str(record_id))
        if policy in KEEPS_LINK:
            assert link is not None
            assert link[0] == right_id
        else:
            assert link is None or link[1].get("state") == "archived", link  # dropped, or a tombstone
    actions = items_of(w, case.pair, str(record_id))
    assert actions, "no run item names the deleted record"
    action, reason = actions[0]
    assert "ConnectWise" in reason, reason
    assert action == {"archive": "delete", "delete": "delete", "flag": "update"}.get(policy, "skip"), actions[0]

    nothing = dict.fromkeys((*WRITES, "failed"), 0)
    if case.family in ("hudu", "catalog", "mirror"):  # the callback again (a replay of the deleted id)
        assert _writes(asyncio.run(run_family(w, case, full=False, record=record_id))) == nothing
    assert _writes(asyncio.run(run_family(w, case, full=True))) == nothing  # a full run reconciles again
    assert counterpart(w, case, right_id) == EXPECTED[policy]

    restore(w, case.entity, record_id)
    asyncio.run(change(w, case, record_id))
    callback = record_id if case.family in ("hudu", "catalog") else None  # else the change is read incrementally
    back = asyncio.run(run_family(w, case, full=False, record=callback))
    assert back["failed"] == 0, back
    if back["created"]:
        worlds.moved.add(case.family)
    if case.family != "devices":
        assert str(record_id) in links(w, case.pair), "the record that came back is not linked again"
    else:
        assert device_deleted(w, record_id) is False, "the device that came back is still marked deleted"


# -- out of the read's scope, still in ConnectWise ------------------------------------------------------------------


def hide_from_reads(monkeypatch: pytest.MonkeyPatch, case: Case, record_id: int) -> None:
    """The pair's full read no longer returns the record (as a scoped read leaves out a record of a company the run
    does not sync), while ConnectWise still has it: reads by id still find it."""
    hidden = str(record_id)

    def hiding(original: Callable[..., Any], ours: Callable[[Any], bool]) -> Callable[..., Any]:
        async def changed(self: Any, since: Any) -> Any:
            async for page in original(self, since):
                yield [raw for raw in page if not (ours(self) and str(raw["id"]) == hidden)]

        return changed

    monkeypatch.setattr(AssetSource, "changed", hiding(AssetSource.changed, lambda src: src.kind == case.kind))
    path = case.path or ""
    monkeypatch.setattr(ConnectWiseSource, "changed", hiding(ConnectWiseSource.changed, lambda src: src.path == path))


@pytest.mark.parametrize("case", [pytest.param(c, id=str(c)) for c in CASES if c.family != "hubspot"])
def test_a_linked_record_a_full_read_missed_but_connectwise_still_has_is_not_deleted(
    worlds: Worlds, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconciliation confirms by id before any policy applies: a linked record the full read did not return but
    ConnectWise still has is out of the read's scope, not deleted — under the policy that writes (archive, delete),
    its counterpart stays live and its link as it was, and a `skip` run item says why; once the read returns it
    again, a full run writes nothing. (HubSpot's two-way loop reconciles on its own, outside the engine.)"""
    w = worlds.get(case.family)
    configure(w, case.family, case.kind, POLICIES[case.family][0])  # archive / delete: the policies that write
    if case.family in worlds.moved:
        assert asyncio.run(run_family(w, case, full=True, every=True))["failed"] == 0
        worlds.moved.discard(case.family)
    record_id, right_id = worlds.pick(w, case)
    before = links(w, case.pair).get(str(record_id))
    with monkeypatch.context() as patch:
        hide_from_reads(patch, case, record_id)
        counts = asyncio.run(run_family(w, case, full=True))
    assert _writes(counts) == dict.fromkeys((*WRITES, "failed"), 0), counts
    assert counterpart(w, case, right_id) == "live"
    if case.family == "devices":
        assert device_deleted(w, record_id) is False
    else:
        assert links(w, case.pair).get(str(record_id)) == before
    action, reason = items_of(w, case.pair, str(record_id))[0]
    assert (action, "still in ConnectWise (outside the run's scope)" in reason) == ("skip", True), reason
    assert _writes(asyncio.run(run_family(w, case, full=True))) == dict.fromkeys((*WRITES, "failed"), 0)
    assert counterpart(w, case, right_id) == "live"


# -- deleted on the target side ------------------------------------------------------------------------------------


async def delete_there(w: World, case: Case, right_id: str, how: str) -> None:
    """Delete (or archive) a counterpart in the target behind cwsync's back, as a user does."""
    if case.family in ("hubspot", "catalog"):
        async with w.hubspot_client() as hs:
            await hs.batch_archive("products" if case.family == "catalog" else case.kind, [right_id])
    elif case.family == "hudu":
        company = int(w.hudu.state.assets[int(right_id)]["company_id"])
        async with w.hudu_client() as hudu:
            if how == "archived":
                await hudu.archive_asset(company, int(right_id))
            else:
                await hudu.delete_asset(company, int(right_id))
    else:
        table, column = ("devices", "cw_id") if case.family == "devices" else (f"cw_{case.kind}", "id")
        with sqlite3.connect(w.db, timeout=5) as conn:
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (int(right_id),))


THERE = [
    ("hubspot:contacts", "deleted", "live", "full"),  # on_hubspot_delete: ignore: the link kept, marked
    ("hudu:configurations", "deleted", "live", "full"),  # created again by the next full re-sync (it lists assets)
    ("hudu:configurations", "deleted", "live", "callback"),  # the update's 404 drops the link: created again
    ("hudu:configurations", "archived", "archived", "full"),  # stays linked and archived, kept current
    ("catalog:products", "deleted", "live", "incremental"),  # the link tombstoned, the product created again
    ("mirror:tickets", "deleted", "live", "incremental"),  # the row written again on the record's next change
    ("devices:devices", "deleted", "live", "full"),  # the device written again by the next full run
]


@pytest.mark.parametrize(("name", "how", "ends", "path"), THERE, ids=[f"{n}-{h}-{p}" for n, h, _, p in THERE])
def test_a_counterpart_deleted_in_the_target_leaves_no_dangling_link(
    worlds: Worlds, name: str, how: str, ends: str, path: str
) -> None:
    """After a counterpart is deleted (or archived) in the target and its ConnectWise record then changes, no run
    fails on it, twice: the pair's rule for the target side holds (docs/configuration.md: deleted on the other side),
    and the record ends linked to a counterpart in the stated state — or, for HubSpot, kept unsynced and marked."""
    case = next(c for c in CASES if str(c) == name)
    w = worlds.get(case.family)
    configure(w, case.family, case.kind, POLICIES[case.family][0])  # the default: archive, delete (Hudu: any)
    # the change must reach the counterpart: a configuration whose layout shows the IP address
    record_id, right_id = worlds.pick(w, case, holding="custom.IP Address" if case.family == "hudu" else None)
    asyncio.run(delete_there(w, case, right_id, how))
    asyncio.run(change(w, case, record_id))
    for _ in range(2):  # the run that meets the deletion, and the next one
        callback = record_id if path == "callback" else None
        counts = asyncio.run(run_family(w, case, full=path == "full", record=callback))
        assert counts["failed"] == 0, counts
    if case.family == "devices":
        assert counterpart(w, case, str(record_id)) == ends
        return
    link = links(w, case.pair).get(str(record_id))
    assert link is not None, "the record lost its link"
    if case.family == "hubspot":
        assert link[0] == right_id  # kept, marked: not synced until the contact is restored in HubSpot
        assert counterpart(w, case, right_id) == "archived"
    else:
        assert counterpart(w, case, link[0]) == ends


# -- the mass-delete guard -----------------------------------------------------------------------------------------


GUARDED = {
    "hubspot": ("contacts", "unlink"),
    "hudu": ("configurations", "archive"),
    "catalog": ("products", "unlink"),
    "devices": ("devices", "delete"),
    "mirror": ("tickets", "unlink"),
}


@pytest.mark.parametrize("family", list(GUARDED))
def test_deleting_most_links_at_once_stops_the_run_and_writes_nothing(worlds: Worlds, family: str) -> None:
    """More than `mass_delete_share` of a pair's linked records gone at once (a broken read, a permission change):
    under a policy that writes or unlinks, the run stops with MassDeleteError naming the setting; no counterpart
    changed and no link dropped or marked. (Runs after the property cases: it leaves the family's world broken.)"""
    w = worlds.get(family)
    kind, policy = GUARDED[family]
    case = next(c for c in CASES_OF[family] if c.kind == kind)
    configure(w, family, kind, policy)
    held = links(w, case.pair) if family != "devices" else worlds._devices(w)
    live = [int(i) for i, (right, _) in held.items() if w.cw_record(case.entity, int(i)) is not None]
    assert len(live) >= 10, f"{case}: too few links for the guard ({len(live)})"
    states = {right: counterpart(w, case, right) for right, _ in held.values()}
    w.delete_cw(case.entity, live)
    callbacks = family in ("hudu", "catalog")  # the one-record path: a storm of callbacks for deleted records
    run = run_family(w, case, full=not callbacks, records=live if callbacks else None)
    with pytest.raises(MassDeleteError, match="mass_delete_share"):
        asyncio.run(run)
    after = links(w, case.pair) if family != "devices" else worlds._devices(w)
    assert after == held
    assert {right: counterpart(w, case, right) for right, _ in held.values()} == states
