"""The two-way way of the page loop (`engine.loop`): ConnectWise ⇄ a system that changes too (HubSpot).

Per pair, parents first (`TwoWayRun`): the right side's changes since its cursor are read first (few in an
incremental run, `_begin`), then the loop's ConnectWise pages; each page is planned with `core.plan` against the
linked counterparts read, the counterparts found by match key and the parents' links, applied in the background
(batches of right-side writes held to fill whole batches, ConnectWise writes one at a time under its client's cap),
and its links and run items committed in one transaction. The loop's reconciliation of a full ConnectWise read gives
the links it confirms gone the pair's `on_delete` (`_vanished`); a full read of the right side reconciles that side
(`on_right_delete`), both behind the mass-delete guard, and what is left of the right side's changes is planned the
same way (`_end`). Each side's cursor moves to the newest change it saw, held at its failures (`_save_cursors`).

What an integration gives (`TwoWayPair`): the two sides (`LeftSide`, `RightSide`), the right side's `Target` (batch
creates, updates, archives with per-record results), the mapping, filters as `left_skip` / `right_skip`, and its
delete policies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog

from cwsync.config.vocabulary import Action, ConflictPolicy, Side
from cwsync.connectors.http import CwsyncApiError, FatalError, NotFoundError
from cwsync.core.mapping import ObjectMapping
from cwsync.core.plan import (
    EXCLUDED,
    GONE,
    LinkBase,
    PairInput,
    PlanItem,
    Snapshot,
    Write,
    match_values,
    plan_pair_cooperatively,
)
from cwsync.engine.guard import check_mass_delete
from cwsync.engine.links import EARLIEST, OUT_OF_SCOPE, unread_links
from cwsync.engine.loop import PairLoop, RunState
from cwsync.engine.pair import Raw, Target, WriteResult
from cwsync.engine.pair import Write as TargetWrite
from cwsync.engine.reading import Watermark
from cwsync.engine.report import keep_planned
from cwsync.engine.runs import cancel_point
from cwsync.store import ItemRow, Link

__all__ = ["STAMP", "LeftSide", "RightSide", "TwoWayPair", "TwoWayRun"]

log = structlog.get_logger("cwsync.sync")

STAMP = "@hs_updated_at"
"""Kept in a link's right values: the counterpart's last modification when cwsync last wrote or read it. An object
read again with the same stamp is unchanged since (typically cwsync's own write coming back), so its references
need no read: the link's values stand for it. (The key keeps the spelling of the links HubSpot runs recorded.)"""


class LeftSide(Protocol):
    """ConnectWise records of one pair, read and written."""

    def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of records changed since `since` (every record when None), with the side's overlap."""
        ...

    async def count_changed(self, since: datetime | None) -> int: ...

    async def get_many(self, record_ids: Sequence[str]) -> list[Raw]: ...

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]:
        """Records whose match key has one of `values` (lower-cased value → record)."""
        ...

    def flatten(self, raw: Mapping[str, Any]) -> dict[str, Any]: ...

    def updated_at(self, raw: Mapping[str, Any]) -> datetime | None: ...

    async def write_create(self, mapping: ObjectMapping, values: Mapping[str, str | None], right_id: str) -> Raw:
        """Create the record of these mapped values (idempotent: a lost answer or a killed run finds it)."""
        ...

    async def write_update(
        self, mapping: ObjectMapping, left_id: str, values: Mapping[str, str | None], current: Raw | None
    ) -> None:
        """Write these mapped values to the record (`current`: as read this run, when it was)."""
        ...


class RightSide(Protocol):
    """The other system's objects of one pair (HubSpot), read; its writes go through the pair's `Target`."""

    object_type: str
    read_mark: datetime | None
    """Set by `changed`: the side's own clock when it answered, less its overlap — every change before it was read."""

    def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]: ...

    async def get_many(self, object_ids: Sequence[str]) -> list[Raw]: ...

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]: ...

    def stamp(self, raw: Mapping[str, Any]) -> str | None:
        """The object's last modification as text (a link keeps it as `STAMP`)."""
        ...

    def updated_at(self, raw: Mapping[str, Any]) -> datetime | None: ...

    def flatten(self, raw: Mapping[str, Any], references: Mapping[str, str | None]) -> dict[str, Any]:
        """Flat fields of an object, its references (parents) given as ConnectWise ids or `right:<id>`."""
        ...

    async def parents_of(self, parent_pair: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """The objects' associated parents of that pair (their ids on this side), first the primary one."""
        ...

    async def associate(self, parent_pair: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Associate (object id, parent id) pairs: reference fields written to this side."""
        ...

    def write_properties(
        self, mapping: ObjectMapping, values: Mapping[str, str | None], *, create: bool
    ) -> dict[str, Any]:
        """What a write sends for these mapped values."""
        ...

    async def backfill(self, mapping: ObjectMapping, object_id: str, values: Mapping[str, str | None]) -> None:
        """Write the values only ConnectWise knows (its ids) after ConnectWise created the object's record."""
        ...


@dataclass(frozen=True)
class TwoWayPair:
    """One object kept in sync both ways between ConnectWise (left) and another system (right)."""

    name: str
    mapping: Callable[[], ObjectMapping]
    """The pair's mapping when it runs (a run's preparation may fill in value maps: HubSpot owners)."""
    left: LeftSide
    right: RightSide
    target: Target
    """The right side's writes: creates, updates and deletes (archives) in batches, a result per record (its
    `WriteResult.right_values` hold the written object's `STAMP`)."""
    policy: ConflictPolicy = ConflictPolicy.CONNECTWISE_WINS
    left_skip: Callable[[Mapping[str, Any]], str | None] = lambda _flat: None
    """Why a ConnectWise record is left alone (built-in rules and filters), from its flat form."""
    right_skip: Callable[[Mapping[str, Any]], str | None] = lambda _flat: None
    deleted_as: str | None = None
    """The `left_skip` reason of a record deleted in ConnectWise (a flag): its counterpart gets `on_delete`."""
    on_delete: Literal["archive", "flag", "unlink", "ignore"] = "archive"
    flag: Mapping[str, str] = field(default_factory=dict)
    """The values `on_delete: flag` writes on the counterpart."""
    on_filtered: Literal["keep", "archive"] = "keep"
    """A linked record the filters exclude: its counterpart kept and no longer synced, or archived."""
    on_right_delete: Literal["ignore", "recreate"] = "ignore"
    right_delete_setting: str = "on_right_delete"
    """How reasons name the setting of `on_right_delete` (HubSpot's is `on_hubspot_delete`)."""
    parent_labels: Mapping[str, str] = field(default_factory=dict)
    """Parent pair → how a reason names one of its records (`companies` → `company`)."""
    scope: str | None = None
    """A digest of what decides the pair's records (its filters): cursors kept with another scope are not used."""
    mass_delete_share: float = 0.9
    mass_delete_setting: str = "mass_delete_share"
    label: str = "the other system"
    """How reasons name the right side (`HubSpot`)."""


class TwoWayRun(PairLoop[TwoWayPair]):
    """A two-way pair's run: the other side's changes read first, each ConnectWise page planned against them and
    the links, writes of both sides applied in the background, then the other side's leftovers."""

    def __init__(self, state: RunState, pair: TwoWayPair, run_id: int | None) -> None:
        super().__init__(state, pair, pair.name, run_id, scope=pair.scope, applying=state.flow.applying)
        self.source = pair.left
        self.left, self.right, self.target = pair.left, pair.right, pair.target
        self._keep_right_cursor = False
        self.right_mark = Watermark(self.started)
        self.rights: dict[str, tuple[Snapshot, Raw]] = {}
        """The other side's changes read this run and not planned yet (by right id)."""
        self.right_complete = False
        self.right_read_done = False
        self.right_stamps: dict[str, str] = {}  # right id → `STAMP` of the object as read in this run
        self._held: list[PlanItem] = []  # planned, not applied yet (see `_apply`)
        self._held_raws: dict[str, Raw] = {}
        """ConnectWise records of held items that update ConnectWise (a patch is built against the record read)."""
        self._held_moments: dict[str, datetime | None] = {}
        """When the ConnectWise records of held items with writes last changed: a failed write holds the cursor
        there. (The records themselves are not kept: a page's thousand records held until their batches went out
        were the first sync's peak memory.)"""
        self._right_seen: set[str] = set()
        """On a full right read: every object read (a link to none of them, nor made by this run, is gone there)."""
        self._unconfirmed: set[str] = set()
        """On a full right read: ConnectWise ids of this run's links (`linked`) whose counterpart the read did not
        return and this run did not create — the rest are confirmed: when the store holds just as many links as
        those, none is gone on the right and `_reconcile_right` need not read them all. (The few, not the many: a set
        of every confirmed id grew with the data.)"""
        self._echoes: set[str] = set()
        """Right ids this run read unchanged since their link was recorded (`_right_snapshots`): not held nor
        planned. One that a ConnectWise change of this run reaches is planned against its link (the same values);
        the rest count as unchanged."""
        self._parent_ids: dict[str, dict[str, str]] = {}
        """Per parent pair: ConnectWise id → right id of the parents found linked so far (`_parents`)."""

    @property
    def mapping(self) -> ObjectMapping:
        """The pair's mapping as prepared."""
        return self.pair.mapping()

    async def _begin(self) -> None:
        """The other side's changes since its cursor, read before ConnectWise's pages are planned against them."""
        right_since = None if self.full else await self.cursors.read("right")
        echoes = None if self.dry_run else self._echoes
        async for page in self.right.changed(right_since):
            for snap, raw in await self._right_snapshots(page, echoes=echoes):
                self.rights[snap.id] = (snap, raw)
        self.right_complete = right_since is None
        self.right_read_done = True
        self._right_seen = set(self.rights) | self._echoes if self.right_complete else set()

    async def _page(self, page: Sequence[Raw]) -> None:
        await self._left_page(page, self.rights)
        if self.s.progress is not None:
            self.s.progress(self.name, len(page))

    async def _end(self) -> None:
        """The other side: after a full read its deletions; then its changes no ConnectWise record reached."""
        if self.right_complete:
            await self._reconcile_right()
        self.report.counts.unchanged += len(self._echoes)  # what planning them alone would have said
        self._echoes.clear()
        remaining = list(self.rights.values())
        size = self.s.flow.page
        for start in range(0, len(remaining), size):
            await cancel_point(self.s.store, self.run_id, settle=self._flush)
            await self._right_page(remaining[start : start + size])
        await self._flush()

    async def _replay(self, left_ids: list[str], right_ids: list[str]) -> None:
        """Read, plan and apply these records (and their linked counterparts) now, as one batch.

        ConnectWise records are read in one call per 100 ids, their counterparts in one batch read; a ConnectWise
        id that is not found was deleted (CW-6). Right-side records whose counterpart is in the same batch are
        planned with it (read once); a right id not found was archived there and is left alone.
        """
        handled: set[str] = set()
        if left_ids:
            links = await self._links(Side.LEFT, left_ids)
            linked = [links[i].right_id for i in left_ids if i in links]
            # The three reads need only ids the store already has: one round trip instead of three in a row.
            raws, right_raws, references = await asyncio.gather(
                self.left.get_many(left_ids), self.right.get_many(linked), self._right_references(linked)
            )
            found = {str(raw["id"]) for raw in raws}
            gone = [i for i in left_ids if i not in found]
            if gone:
                await self._deleted_left(gone, links, "deleted in ConnectWise (not found)")
            alive = {links[i].right_id for i in found if i in links}
            rights = {
                snap.id: (snap, right_raw)
                for snap, right_raw in self._right_snapshots_of(
                    [r for r in right_raws if str(r["id"]) in alive], references
                )
            }
            handled.update(linked)
            if raws:
                await self._left_page(raws, rights, links)
        wanted = [i for i in right_ids if i not in handled]
        if wanted:
            raws = await self.right.get_many(wanted)
            if len(raws) < len(wanted):
                missing = set(wanted) - {str(raw["id"]) for raw in raws}
                log.info("sync.replay_not_found", pair=self.name, system=self.pair.label.lower(), ids=sorted(missing))
            if raws:
                await self._right_page(await self._right_snapshots(raws))

    # -- reading -----------------------------------------------------------------------------------------------

    def _left_snapshot(self, raw: Raw) -> Snapshot:
        flat = self.left.flatten(raw)
        updated = self.left.updated_at(raw)
        self.left_mark.seen(updated)
        values = self.mapping.project_left(flat)
        return Snapshot(str(raw["id"]), values, flat, updated, self.pair.left_skip(flat))

    async def _right_snapshots(
        self, page: Sequence[Raw], *, echoes: set[str] | None = None
    ) -> list[tuple[Snapshot, Raw]]:
        """Snapshots of right-side objects; their references are read, except for objects unchanged since cwsync
        last saw them (same `STAMP`), whose references are the link's.

        With `echoes`: an object unchanged since its link was recorded — same stamp, the same mapped values, not
        excluded — is left out and its id added there instead (typically cwsync's own write read back by the next
        run's incremental read: after a first sync, every object it created). Planned, it would come out unchanged
        against its link, which stands for it; holding every one of them until the end of the ConnectWise read
        made a re-sync's memory and CPU grow with the data (#19)."""
        ids = [str(r["id"]) for r in page]
        unchanged: dict[str, Link] = {}
        if self.mapping.references or echoes is not None:
            links = await self.s.store.links_by_right(self.s.tenant, self.name, ids)
            for raw in page:
                link = links.get(str(raw["id"]))
                stamp = self.right.stamp(raw)
                if link is not None and link.right_values.get(STAMP) == stamp and (stamp or echoes is None):
                    unchanged[link.right_id] = link
        refs = await self._right_references([i for i in ids if i not in unchanged])
        for right_id, link in unchanged.items():
            refs[right_id] = {name: link.right_values.get(name) for name in self.mapping.references}
        snaps = self._right_snapshots_of(page, refs)
        if echoes is None or not unchanged:
            return snaps
        out = []
        for snap, raw in snaps:
            link = unchanged.get(snap.id)
            if link is not None and self._echo(snap, link):
                echoes.add(snap.id)
                self.right_stamps.pop(snap.id, None)  # the link keeps it
            else:
                out.append((snap, raw))
        return out

    def _echo(self, snap: Snapshot, link: Link) -> bool:
        """An object read as its link remembers it: nothing to plan unless its ConnectWise record changed."""
        if snap.skip_reason or link.right_values.get(GONE) or link.left_values.get(EXCLUDED):
            return False
        return all(snap.values.get(f.name) == link.right_values.get(f.name) for f in self.mapping.fields)

    def _right_snapshots_of(
        self, page: Sequence[Raw], refs: Mapping[str, Mapping[str, str | None]]
    ) -> list[tuple[Snapshot, Raw]]:
        out = []
        for raw in page:
            stamp = self.right.stamp(raw)
            if stamp is not None:
                self.right_stamps[str(raw["id"])] = stamp
            flat = self.right.flatten(raw, refs.get(str(raw["id"]), {}))
            updated = self.right.updated_at(raw)
            self.right_mark.seen(updated)
            skip = self.pair.right_skip(flat)
            out.append((Snapshot(str(raw["id"]), self.mapping.project_right(flat), flat, updated, skip), raw))
        return out

    async def _right_references(self, ids: list[str]) -> dict[str, dict[str, str | None]]:
        """For each object, its references (company, contact) as ConnectWise ids (or `right:<id>`)."""
        out: dict[str, dict[str, str | None]] = {i: {} for i in ids}
        for name, parent_pair in self.mapping.references.items():
            associated = await self.right.parents_of(parent_pair, ids) if ids else {}
            parent_ids = {p for targets in associated.values() for p in targets[:1]}
            links = await self.s.store.links_by_right(self.s.tenant, parent_pair, parent_ids)
            for object_id in ids:
                targets = associated.get(object_id) or []
                target = targets[0] if targets else None
                link = links.get(target) if target else None
                out[object_id][name] = link.left_id if link else (f"right:{target}" if target else None)
        return out

    # -- planning and applying pages ---------------------------------------------------------------------------

    async def _left_page(
        self, page: Sequence[Raw], rights: dict[str, tuple[Snapshot, Raw]], known: Mapping[str, Link] | None = None
    ) -> None:
        """Plan and apply a page of ConnectWise records; `known`: their links, when the caller has read them."""
        raws = {str(r["id"]): r for r in page}
        lefts = []
        for n, raw in enumerate(page, 1):
            lefts.append(self._left_snapshot(raw))
            if n % self.s.flow.yield_every == 0:
                await asyncio.sleep(0)  # let requests due meanwhile go (see `YIELD_EVERY`)
        moments = {s.id: s.updated_at for s in lefts}  # when each record last changed, read once (`_apply`)
        if known is None:
            links = await self._links(Side.LEFT, [s.id for s in lefts])
        else:
            links = {s.id: known[s.id] for s in lefts if s.id in known}
        self.linked.update(links)
        if self._echoes:
            self._echoes.difference_update(link.right_id for link in links.values())
        if self.right_complete:
            for k, link in links.items():
                if link.right_id in self._right_seen or link.right_values.get(GONE):
                    self._unconfirmed.discard(k)
                else:
                    self._unconfirmed.add(k)
        deleted_as = self.pair.deleted_as
        gone = [s.id for s in lefts if s.id in links and deleted_as is not None and s.skip_reason == deleted_as]
        if gone:
            await self._deleted_left(gone, links, str(deleted_as))
            for left_id in gone:
                rights.pop(links[left_id].right_id, None)
            lefts = [s for s in lefts if s.id not in gone]
            links = {k: v for k, v in links.items() if k not in gone}
        excluded = [s for s in lefts if s.id in links and s.skip_reason]
        if excluded:
            await self._excluded(excluded, links, rights)
            if self.pair.on_filtered == "archive":
                lefts = [s for s in lefts if s not in excluded]
                links = {k: v for k, v in links.items() if k not in {s.id for s in excluded}}
        linked_rights = [rights.pop(link.right_id)[0] for link in links.values() if link.right_id in rights]
        unlinked = [s for s in lefts if s.id not in links and not s.skip_reason]
        matches = await self._matches(Side.LEFT, unlinked, rights)
        items = await plan_pair_cooperatively(
            PairInput(
                mapping=self.mapping,
                policy=self.pair.policy,
                left=lefts,
                right=linked_rights,
                links_by_left={k: _base(v) for k, v in links.items()},
                links_by_right={v.right_id: _base(v) for v in links.values()},
                right_matches=matches,
                parents=await self._parents(lefts),
            )
        )
        for key_snap in matches.values():
            rights.pop(key_snap.id, None)
        self._hold_waiting(items, lefts)
        await self._apply(items, raws, moments)

    async def _excluded(
        self, lefts: Sequence[Snapshot], links: Mapping[str, Link], rights: dict[str, tuple[Snapshot, Raw]]
    ) -> None:
        """Linked ConnectWise records that filters (or the built-in ones: inactive, no company) now exclude: their
        counterparts are archived (`on_filtered: archive`), or kept and no longer synced (`keep`, the default) —
        the link remembers why, so a change to the counterpart is left alone too (`core.plan.EXCLUDED`)."""
        if self.pair.on_filtered == "archive":
            by_reason: dict[str, list[str]] = {}
            for snap in lefts:
                by_reason.setdefault(str(snap.skip_reason), []).append(snap.id)
            for reason, ids in by_reason.items():
                await self._deleted_left(ids, links, reason, archive=True)
                for left_id in ids:
                    rights.pop(links[left_id].right_id, None)
            return
        marked = []
        for snap in lefts:
            link = links[snap.id]
            if link.left_values.get(EXCLUDED) != snap.skip_reason:
                values = {**link.left_values, EXCLUDED: snap.skip_reason}
                marked.append(replace(link, left_values=values, synced_at=self.s.now()))
        if marked and not self.dry_run:
            await self.recorder.commit(links=marked)

    def _hold_waiting(self, items: Sequence[PlanItem], lefts: Sequence[Snapshot]) -> None:
        """ConnectWise records that wait for a parent whose pair failed records in this run are read again by the
        next run (the parent is likely among the failures): the left cursor stays at or before them."""
        if not self.s.failing & set(self.mapping.references.values()):
            return
        waiting = {i.left_id for i in items if i.action is Action.SKIP and i.reason.startswith("waits for ")}
        for snap in lefts:
            if snap.id in waiting:
                self.left_mark.hold(snap.updated_at)

    async def _right_page(self, page: Sequence[tuple[Snapshot, Raw]]) -> None:
        snaps = [snap for snap, _ in page]
        links = await self._links(Side.RIGHT, [s.id for s in snaps])
        unlinked = [s for s in snaps if s.id not in links and not s.skip_reason]
        matches = await self._matches(Side.RIGHT, unlinked, {})
        snaps = self._from_connectwise(snaps, unlinked, matches)
        items = await plan_pair_cooperatively(
            PairInput(
                mapping=self.mapping,
                policy=self.pair.policy,
                left=[],
                right=snaps,
                links_by_left={v.left_id: _base(v) for v in links.values()},
                links_by_right={k: _base(v) for k, v in links.items()},
                left_matches=matches,
                parents=await self._parents([]),
            )
        )
        await self._apply(items, {})

    def _from_connectwise(
        self, snaps: list[Snapshot], unlinked: Sequence[Snapshot], matches: Mapping[tuple[str, str], Snapshot]
    ) -> list[Snapshot]:
        """Unlinked right-side records that carry a ConnectWise id (cwsync wrote them from a ConnectWise record) and
        match no ConnectWise record are not created in ConnectWise: their record was deleted there and the link
        dropped (`on_delete: unlink`, or a store reset), and creating it again would undo the deletion (#13)."""
        id_field = next((f.right for f in self.mapping.fields if f.left == "id"), None)
        if id_field is None:
            return snaps
        orphans: dict[str, str] = {}
        for snap in unlinked:
            cw_id = snap.values.get(id_field)
            if cw_id not in (None, "") and not any(kv in matches for kv in match_values(self.mapping, snap.values)):
                orphans[snap.id] = (
                    f"carries ConnectWise id {cw_id} ({id_field}) but no ConnectWise record matches it: deleted in"
                    " ConnectWise, not created there again"
                )
        if not orphans:
            return snaps
        return [replace(s, skip_reason=orphans[s.id]) if s.id in orphans else s for s in snaps]

    async def _vanished(self, links: Sequence[Link], total: int) -> None:
        """Linked records ConnectWise no longer has (no callback seen): the guard stops the run when archiving their
        counterparts would take more than `mass_delete_share` of the links; else `on_delete` applies."""
        pair = self.pair
        check_mass_delete(pair.name, len(links), total, pair.mass_delete_share, setting=pair.mass_delete_setting)
        missing = {link.left_id: link for link in links}
        await self._deleted_left(list(missing), missing, "not found in ConnectWise (reconciliation)")
        for link in links:
            self.rights.pop(link.right_id, None)
            self._echoes.discard(link.right_id)

    async def _kept(self, links: Sequence[Link]) -> None:
        """Linked records a full read did not return but ConnectWise still has: left as they are, skipped."""
        why = OUT_OF_SCOPE.format(target=self.pair.label, deleted="archived")
        items = [self._link_item("skip", link, why) for link in links]
        if not self.dry_run:
            await self.recorder.commit(rows=items)

    def _link_item(self, action: str, link: Link, reason: str, error: Exception | None = None) -> ItemRow:
        """The run item of a decision about a link that writes no record of this run's reads (counted); with
        `error`, its write failed."""
        self.report.counts.add(action)  # type: ignore[arg-type]
        return self.recorder.row(
            action,  # type: ignore[arg-type]
            status="planned" if self.dry_run else "applied",
            left_id=link.left_id,
            right_id=link.right_id,
            reason=reason if error is None else f"{reason}; failed: {error}",
            diff={},
            source_values=link.left_values,
            error=error,
        )

    async def _reconcile_right(self) -> None:
        """After reading every right-side object: links whose counterpart was not among them were deleted
        (archived) there; the pair's `on_right_delete` applies (behind the mass-delete guard), so no dangling link
        is left for a later update to fail on."""
        seen, linked, unconfirmed = self._right_seen, self.linked, self._unconfirmed
        known = None if self.released else len(linked) - len(unconfirmed)  # every counterpart read or made: no scan
        unread, total = await unread_links(
            self.links,
            lambda left_id, right_id: right_id not in seen and (left_id not in linked or left_id in unconfirmed),
            known=known,
        )
        links = [link for link in unread if not link.right_values.get(GONE)]
        if not links:
            return
        pair = self.pair
        check_mass_delete(
            pair.name,
            len(links),
            total,
            pair.mass_delete_share,
            setting=pair.mass_delete_setting,
            what="unlinked",
            side=pair.label,
        )
        kept, dropped, items = [], [], []
        for link in links:
            marked, why = self.gone_link(link, f"deleted in {pair.label} (not found by a full read)")
            items.append(self._link_item("skip", link, why))
            if marked is None:
                dropped.append(link.left_id)
            else:
                kept.append(marked)
        await self.recorder.commit(links=kept, rows=items, dropped=dropped)

    def gone_link(self, link: Link, reason: str) -> tuple[Link | None, str]:
        """A link whose right-side counterpart is deleted, under the pair's policy: marked (`ignore`: the record is
        left alone until the counterpart is restored) or None (`recreate`: dropped, so the record is created
        again)."""
        setting = self.pair.right_delete_setting
        if self.pair.on_right_delete == "recreate":
            return None, f"{reason}: link dropped, created again when it next syncs ({setting}: recreate)"
        marked = replace(link, right_values={**link.right_values, GONE: reason}, synced_at=self.s.now())
        return marked, f"{reason}: no longer synced until it is restored there ({setting}: ignore)"

    async def _deleted_left(
        self, left_ids: list[str], links: Mapping[str, Link], reason: str, *, archive: bool | None = None
    ) -> None:
        """A ConnectWise record is gone (or soft-deleted): apply the pair's `on_delete` to its counterpart (CW-6) —
        `archive` it (the link dropped), `flag` it (the pair's `flag` values written, the link kept and marked),
        `unlink` (the link dropped, the counterpart left) or `ignore` (the link kept and marked): a marked link is no
        longer synced either way, so no dangling link is left. `archive` given: that instead (a record that left
        the filters, `on_filtered`)."""
        pair = self.pair
        policy = "archive" if archive else pair.on_delete if archive is None else "ignore"
        # a link already marked for this reason was handled by an earlier run: not flagged nor counted again
        linked = [links[i] for i in left_ids if i in links and links[i].left_values.get(EXCLUDED) != reason]
        kind, flagged = self.right.object_type, ", ".join(f"{k} = {v}" for k, v in pair.flag.items())
        what = {
            "archive": (f"{pair.label} {kind} archived", "delete"),
            "flag": (f"{pair.label} {kind} flagged ({flagged}), no longer synced", "update"),
            "unlink": (f"unlinked, the {pair.label} {kind} left as it is (on_delete: unlink)", "skip"),
            "ignore": ("on_delete is ignore: its counterpart is kept and no longer synced", "skip"),
        }
        why, action = what[policy]
        if self.dry_run or not linked:
            for link in linked:
                self._link_item(action, link, f"{reason}: {why}")
            return
        failed: dict[str, Exception] = {}
        if policy in ("archive", "flag"):  # through the pair's target: a record the target fails fails alone
            writes = [
                TargetWrite("delete", link.left_id, link.right_id, {})
                if policy == "archive"
                else TargetWrite("update", link.left_id, link.right_id, dict(pair.flag))
                for link in linked
            ]
            for outcome in await self.target.apply(writes):
                if outcome.error is not None and not isinstance(outcome.error, NotFoundError):  # gone there: done
                    failed[outcome.write.left_id] = outcome.error
        if failed:  # its link stays as it was, and the next run reads it again
            self.s.failing.add(self.name)
            self.left_mark.hold(self.since or EARLIEST)
        done = [link for link in linked if link.left_id not in failed]
        items = [self._link_item(action, link, f"{reason}: {why}") for link in done]
        items += [
            self._link_item("fail", link, f"{reason}: {why}", failed[link.left_id])
            for link in linked
            if link.left_id in failed
        ]
        dropped = [link.left_id for link in done] if policy in ("archive", "unlink") else []
        marked = [
            replace(link, left_values={**link.left_values, EXCLUDED: reason}, synced_at=self.s.now())
            for link in done
            if policy in ("flag", "ignore") and link.left_values.get(EXCLUDED) != reason
        ]
        await self.recorder.commit(links=marked, rows=items, dropped=dropped)
        if dropped:
            self.linked.difference_update(dropped)
            self._unconfirmed.difference_update(dropped)

    async def _links(self, side: Side, ids: list[str]) -> dict[str, Link]:
        if side is Side.LEFT:
            return await self.s.store.links_by_left(self.s.tenant, self.name, ids)
        return await self.s.store.links_by_right(self.s.tenant, self.name, ids)

    async def _matches(
        self, side: Side, unlinked: Sequence[Snapshot], pending: Mapping[str, tuple[Snapshot, Raw]]
    ) -> dict[tuple[str, str], Snapshot]:
        """Counterparts of unlinked records found by match key: among this run's changes, else by lookup."""
        out: dict[tuple[str, str], Snapshot] = {}
        looks_up = not (side.other is Side.RIGHT and self.right_complete)
        """A full run read every right-side object already: a lookup there cannot find more."""
        if not pending and not looks_up:
            return out  # nothing to find them among (a first sync's ConnectWise records)
        wanted: dict[str, set[str]] = {}
        spelled: dict[tuple[str, str], set[str]] = {}
        """Each compared (lower-cased) value as the records spell it: a lookup by a unique property is exact."""
        for snap in unlinked:
            for key, value in match_values(self.mapping, snap.values):
                wanted.setdefault(key, set()).add(value)
                if looks_up:
                    spelled.setdefault((key, value), set()).add(str(snap.values.get(key) or value))
        if not wanted:
            return out
        index = {kv: snap for snap, _ in pending.values() for kv in match_values(self.mapping, snap.values)}
        for key, values in wanted.items():
            missing = []
            for value in sorted(values):
                if (key, value) in index:
                    out[(key, value)] = index[(key, value)]
                else:
                    missing.append(value)
            if not looks_up:
                continue
            asked = sorted({spelling for value in missing for spelling in spelled[(key, value)]})
            found = await self._lookup(side.other, key, asked)
            out.update({(key, value): snap for value, snap in found.items()})
        return out

    async def _lookup(self, side: Side, key: str, values: list[str]) -> dict[str, Snapshot]:
        if side is Side.RIGHT:
            raws = await self.right.find(key, values)
            pairs = await self._right_snapshots(list(raws.values()))
            by_id = {snap.id: snap for snap, _ in pairs}
            return {value: by_id[str(raw["id"])] for value, raw in raws.items()}
        raws = await self.left.find(key, values)
        found = {value: self._left_snapshot(raw) for value, raw in raws.items()}
        deleted_as = self.pair.deleted_as
        return {value: snap for value, snap in found.items() if deleted_as is None or snap.skip_reason != deleted_as}

    async def _parents(self, lefts: Sequence[Snapshot]) -> dict[str, dict[str, str]]:
        """For each reference field: ConnectWise parent id → right parent id, for the parents named here.

        The parent pairs ran before this one: a parent found linked is remembered for the rest of this pair's run
        (a page's contacts name the same companies again, and their associations ask once more); one not linked is
        asked for again (another run may link it meanwhile)."""
        named = {name: {str(v) for s in lefts if (v := s.values.get(name))} for name in self.mapping.references}
        return await self._parents_named(named)

    async def _parents_named(self, named: Mapping[str, set[str]]) -> dict[str, dict[str, str]]:
        """`_parents` of these ConnectWise parent ids per reference field."""
        out: dict[str, dict[str, str]] = {}
        for name, ids in named.items():
            parent_pair = self.mapping.references[name]
            known = self._parent_ids.setdefault(parent_pair, {})
            if unknown := ids - known.keys():
                known.update(await self.s.store.right_ids(self.s.tenant, parent_pair, unknown))
            planned = {i: f"planned:{i}" for i in ids & self.s.planned_creates.get(parent_pair, set())}
            matched = self.s.planned_links.get(parent_pair, {})
            planned |= {i: matched[i] for i in ids if i in matched}
            out[name] = planned | {i: known[i] for i in ids if i in known}
        return out

    async def _apply(
        self, items: list[PlanItem], raws: Mapping[str, Raw], moments: Mapping[str, datetime | None] | None = None
    ) -> None:
        """Hold `items` for their batches (a dry run counts them); `raws`: the ConnectWise records read, by id, and
        `moments` when each last changed, as their snapshots read it (else read from the record)."""
        items = await self._name_parents(items)
        keep_planned(self.report, items, everything=self.dry_run)
        if self.dry_run:
            created = self.s.planned_creates.setdefault(self.name, set())
            created.update(i.left_id for i in items if i.action is Action.CREATE and i.left_id)
            matched = self.s.planned_links.setdefault(self.name, {})
            matched.update(
                {i.left_id: i.right_id for i in items if i.action is Action.LINK and i.left_id and i.right_id}
            )
            for item in items:
                self.report.counts.add(item.action.value)
                if item.conflicts:
                    self.report.counts.conflicts += 1
            return
        self._held.extend(items)
        updated_at = self.left.updated_at
        for item in items:
            key = item.left_id
            raw = raws.get(key) if key is not None and item.writes else None
            if raw is not None and key is not None:
                self._held_moments[key] = moments[key] if moments is not None and key in moments else updated_at(raw)
                if _write(item, Side.LEFT, Action.UPDATE):
                    self._held_raws[key] = raw
        ready = self._ready()
        if ready:
            await self._launch(ready)

    async def _name_parents(self, items: list[PlanItem]) -> list[PlanItem]:
        """A record that waits for a parent this run skipped or failed says so, with the parent's reason (it cannot
        sync until the parent does, so "waits for" would mislead); this pair's own skips are noted for the pairs after
        it. A parent this run did not read (an incremental run) is named with the reason of its last run item."""
        skipped = self.s.skipped.setdefault(self.name, {})
        await self._recall_parents(items)
        labels = self.pair.parent_labels
        out = []
        for item in items:
            if item.action is Action.SKIP:
                waits = _WAITS.match(item.reason)
                why = self.s.skipped.get(waits.group(1), {}).get(waits.group(2)) if waits else None
                if waits and why is not None:
                    parent = f"{labels.get(waits.group(1), waits.group(1))} {waits.group(2)}"
                    reason = f"its {parent} does not sync ({why}): this one cannot sync until it does"
                    item = replace(item, reason=reason)
                if item.left_id is not None and item.source is Side.LEFT:
                    skipped[item.left_id] = item.reason
            out.append(item)
        return out

    async def _recall_parents(self, items: Sequence[PlanItem]) -> None:
        """The parents waited for that this run has not seen: their last run item's reason when it was a skip or a
        failure (one store read per such parent, once per run)."""
        wanted = {
            (waits.group(1), waits.group(2))
            for item in items
            if item.action is Action.SKIP and (waits := _WAITS.match(item.reason))
        }
        recalled = self.s.recalled
        for parent_pair, parent_id in wanted - recalled:
            recalled.add((parent_pair, parent_id))
            if parent_id in self.s.skipped.get(parent_pair, {}):
                continue
            last = await self.s.store.items_for_record(self.s.tenant, parent_pair, left_id=parent_id, limit=1)
            if last and (last[0].action == "skip" or last[0].status == "failed"):
                self.s.skipped.setdefault(parent_pair, {})[parent_id] = _as_failure(last[0].action, last[0].reason)

    def _ready(self, *, final: bool = False) -> list[PlanItem]:
        """The held items to apply now: all of them at the end (or past the flow's `hold`), else the longest prefix
        holding a whole number of right-side create batches — a page's remainder waits to fill the next page's
        batches instead of going out as a partial batch on every page."""
        if final or len(self._held) >= self.s.flow.hold:
            cut = len(self._held)
        else:
            creates = [n for n, item in enumerate(self._held) if _write(item, Side.RIGHT, Action.CREATE)]
            full = len(creates) // self.s.flow.batch * self.s.flow.batch
            cut = creates[full - 1] + 1 if full else 0
        ready, self._held = self._held[:cut], self._held[cut:]
        return ready

    async def _launch(self, items: list[PlanItem]) -> None:
        """Apply `items` in the background: the next page is read and planned while these writes are in flight
        (at most the flow's `applying` batches at once, so memory stays bounded; each batch holds distinct
        records)."""
        await self.applying.room()
        keys = {str(i.left_id) for i in items if i.left_id}
        raws = {k: self._held_raws.pop(k) for k in keys if k in self._held_raws}
        moments = {k: self._held_moments.pop(k) for k in keys if k in self._held_moments}
        self.applying.start(self._apply_now(items, raws, moments))

    async def _apply_now(
        self, items: list[PlanItem], raws: Mapping[str, Raw], moments: Mapping[str, datetime | None]
    ) -> None:
        results = await _Applier(self, raws).apply(items)
        self._hold_failed(results, moments)
        await self._record(results)

    def _hold_failed(self, results: Sequence[_Result], moments: Mapping[str, datetime | None]) -> None:
        """Records whose writes failed are read again by the next run, even an incremental one: the cursor of the
        side they came from does not move past them (a right-side failure keeps the right cursor where it was).
        """
        for result in results:
            if result.error is None:
                continue
            self.s.failing.add(self.name)
            if result.left_id and result.item.source is Side.LEFT:
                self.s.skipped.setdefault(self.name, {})[str(result.left_id)] = _as_failure("fail", result.error)
            if result.item.source is Side.RIGHT:
                self._keep_right_cursor = True
                continue
            moment = moments.get(str(result.left_id))
            self.left_mark.hold(moment or self.since or EARLIEST)

    async def _flush(self) -> None:
        """Apply everything held back and wait for it."""
        ready = self._ready(final=True)
        if ready and not self.dry_run:
            await self._launch(ready)
        await self.applying.settle()

    async def _record(self, results: list[_Result]) -> None:
        links, run_items, dropped = [], [], []
        for n, result in enumerate(results, 1):
            if n % self.s.flow.yield_every == 0:
                await asyncio.sleep(0)
            if result.dropped and result.left_id:
                dropped.append(result.left_id)
            item = result.item
            action = "fail" if result.error else item.action.value
            self.report.counts.add(action)  # type: ignore[arg-type]
            if item.conflicts and not result.error:
                self.report.counts.conflicts += 1
            if result.link is not None:
                links.append(result.link)
            if action != "unchanged":
                run_items.append(self._run_item(result, action))
        self.released += await self.recorder.commit(links=links, rows=run_items, dropped=dropped)
        self.linked.update(link.left_id for link in links)
        self.linked.difference_update(dropped)
        if self.right_complete:
            created = {r.left_id for r in results if _created_right(r)}
            for link in links:
                if link.right_id in self._right_seen or link.left_id in created:
                    self._unconfirmed.discard(link.left_id)
                else:
                    self._unconfirmed.add(link.left_id)
            self._unconfirmed.difference_update(dropped)

    def _run_item(self, result: _Result, action: str) -> ItemRow:
        item = result.item
        to_left = False
        for write in item.writes:
            if write.side is Side.LEFT:
                to_left = True
        return self.recorder.row(
            action,  # type: ignore[arg-type]
            direction="right_to_left" if to_left else "left_to_right",
            status="failed" if result.error else ("applied" if item.writes or result.link else "planned"),
            left_id=result.left_id,
            right_id=result.right_id,
            reason=result.error or item.reason,
            diff=item.diff,
            source_values=item.source_values,
            remote_status=result.remote_status,
            remote_response=result.remote_response,
        )

    async def _save_cursors(self) -> None:
        # Each side's watermark is the newest change seen (in that side's clock, capped by the run's start). The right
        # side's is better known: its clock when it answered this run's read, less the overlap (`RightSide.read_mark`)
        # — everything changed before it was read, even when nothing was — so a run with nothing to do moves it on and
        # the next one reads (almost) nothing. Without it, an empty read counts as read up to the run's start.
        if self.right_read_done and self.right.read_mark is not None:
            self.right_mark.newest = self.right.read_mark
        elif self.right_read_done and self.right_mark.newest is None:
            self.right_mark.newest = self.started
        right = None if self._keep_right_cursor else self.right_mark.cursor  # a right-side failure: stays
        await self.cursors.save({"left": self.left_mark.cursor, "right": right})


def _as_failure(action: str, reason: str) -> str:
    """A parent's reason as its dependents quote it: a failure says so."""
    return f"failed: {reason}" if action == "fail" and not reason.startswith("failed") else reason


_WAITS = re.compile(r"^waits for (\w+) (\S+): it has no counterpart on the right yet")
"""The planner's reason for a record whose parent has no counterpart on the right (`core.plan._blocked`)."""
_LEFT_WRITES = (Action.CREATE, Action.UPDATE)


def _base(link: Link) -> LinkBase:
    return LinkBase(link.left_id, link.right_id, link.left_values, link.right_values)


@dataclass(slots=True)
class _Result:
    item: PlanItem
    left_id: str | None
    right_id: str | None
    link: Link | None = None
    error: str | None = None
    remote_status: int | None = None
    remote_response: Any = None
    right_stamp: str | None = None  # the object's `STAMP` after cwsync wrote it
    dropped: bool = False  # the link goes (its right counterpart was deleted, `on_right_delete: recreate`)


class _Applier:
    """Carries out a page's writes: the right side in batches through the pair's target, ConnectWise one by one
    under its client's cap."""

    def __init__(self, run: TwoWayRun, raws: Mapping[str, Raw]) -> None:
        self.run = run
        self.raws = raws
        self.mapping = run.mapping

    async def apply(self, items: list[PlanItem]) -> list[_Result]:
        results = [_Result(item, item.left_id, item.right_id) for item in items]
        creates: list[_Result] = []
        updates: list[_Result] = []
        for r in results:
            for w in r.item.writes:
                if w.side is Side.RIGHT and w.action is Action.CREATE:
                    creates.append(r)
                elif w.side is Side.RIGHT and w.action is Action.UPDATE:
                    updates.append(r)
        await self._right_creates(creates)
        await self._right_updates(updates)
        for result in results:  # after the right side's: an update that found its counterpart gone writes nothing
            if any(w.side is Side.LEFT and w.action in _LEFT_WRITES for w in result.item.writes):
                await self._left_write(result)
        now = datetime.now(UTC)  # the links of a batch are made together: one moment (and one stored text) for all
        for n, result in enumerate(results, 1):
            if result.item.action is not Action.SKIP and not result.error and result.left_id and result.right_id:
                result.link = self._link(result, now)
            if n % self.run.s.flow.yield_every == 0:
                await asyncio.sleep(0)
        return results

    def _link(self, result: _Result, now: datetime) -> Link:
        item = result.item
        writers = {w.side for w in item.writes}
        wrote_right = Side.RIGHT in writers
        stamp = result.right_stamp if wrote_right else self.run.right_stamps.get(str(result.right_id))
        right_values = dict(item.right_values or {})  # made for this link: the recorder takes it as it is
        if stamp is not None:
            right_values[STAMP] = stamp
        elif wrote_right:
            right_values.pop(STAMP, None)  # written, but the side did not say when: the next read is a full one
        return self.run.recorder.link(
            str(result.left_id),
            str(result.right_id),
            match_key=item.match_key,
            left_values=item.left_values or {},
            right_values=right_values,
            last_writer="both" if len(writers) == 2 else ("left" if wrote_right else "right"),
            synced_at=now,
            owned=True,
        )

    async def _right_creates(self, results: list[_Result]) -> None:
        for result, outcome in zip(results, await self._send(results, Action.CREATE), strict=True):
            if outcome.error is not None:
                _fail(result, outcome.error)
            else:
                result.right_id = outcome.right_id
                result.right_stamp = (outcome.right_values or {}).get(STAMP)
        await self._associate([r for r in results if not r.error])

    async def _right_updates(self, results: list[_Result]) -> None:
        gone: list[_Result] = []
        for result, outcome in zip(results, await self._send(results, Action.UPDATE), strict=True):
            if isinstance(outcome.error, NotFoundError):
                gone.append(result)
            elif outcome.error is not None:
                _fail(result, outcome.error)
            else:
                result.right_stamp = (outcome.right_values or {}).get(STAMP)
        if gone:
            await self._gone(gone)
        await self._associate([r for r in results if not r.error and r.item.action is not Action.SKIP])

    async def _send(self, results: list[_Result], action: Action) -> list[WriteResult]:
        """The results' right-side writes of `action`, through the pair's target (HubSpot: batches of 100, a lost
        create's answer resolved by the match property, "not found" confirmed by a read)."""
        if not results:
            return []
        writes = []
        properties = self.run.right.write_properties
        for result in results:
            write = _write(result.item, Side.RIGHT, action)
            assert write is not None
            values = properties(self.mapping, write.values, create=action is Action.CREATE)
            kind: Literal["create", "update"] = "create" if action is Action.CREATE else "update"
            writes.append(TargetWrite(kind, str(result.left_id or ""), write.record_id, values))
        return await self.run.target.apply(writes)

    async def _gone(self, results: list[_Result]) -> None:
        """Updates the right side answered with "not found": the counterpart was deleted (archived) there since the
        link was made. The pair's `on_right_delete` applies instead of a failure that every later run would repeat."""
        label = self.run.pair.label
        links = await self.run._links(Side.LEFT, [str(r.left_id) for r in results if r.left_id])
        for result in results:
            link = links.get(str(result.left_id))
            if link is None:
                _fail(result, f"not found in {label}, and no longer linked")
                continue
            marked, why = self.run.gone_link(link, f"deleted in {label} (an update found it gone)")
            result.item = replace(result.item, action=Action.SKIP, reason=why, writes=())
            result.link, result.dropped = marked, marked is None

    async def _associate(self, results: list[_Result]) -> None:
        """Associations for reference fields written to the right side (contact → company, deal → company/contact)."""
        for name, parent_pair in self.mapping.references.items():
            written = [(r.right_id, value) for r in results if r.right_id and (value := _written(r, name))]
            if not written:
                continue
            known = (await self.run._parents_named({name: {value for _, value in written}}))[name]
            pairs = [(right_id, known[value]) for right_id, value in written if value in known]
            if pairs:
                await self.run.right.associate(parent_pair, pairs)

    async def _left_write(self, result: _Result) -> None:
        item = result.item
        side = self.run.left
        try:
            if (write := _write(item, Side.LEFT, Action.CREATE)) is not None:
                created = await side.write_create(self.mapping, write.values, str(item.right_id))
                result.left_id = str(created["id"])
                await self._backfill(result, created)
            elif (write := _write(item, Side.LEFT, Action.UPDATE)) is not None:
                current = self.raws.get(str(item.left_id))
                await side.write_update(self.mapping, str(item.left_id), write.values, current)
        except CwsyncApiError as exc:
            if isinstance(exc, FatalError):
                raise
            _fail(result, exc)
        except ValueError as exc:  # a value ConnectWise cannot take (no such custom field, ...): this record only
            _fail(result, exc)

    async def _backfill(self, result: _Result, created: Raw) -> None:
        """After creating in ConnectWise, send the right side the fields only ConnectWise knows (its ids)."""
        projection = self.mapping.project_left(self.run.left.flatten(created))
        right_values = dict(result.item.right_values or {})
        updates = {
            f.name: projection.get(f.name)
            for f in self.mapping.fields
            if f.direction.allows(Side.RIGHT.towards)
            and projection.get(f.name) != right_values.get(f.name)
            and f.name not in self.mapping.references
        }
        result.item = _with_values(result.item, projection, {**right_values, **updates})
        if updates and result.right_id:
            await self.run.right.backfill(self.mapping, result.right_id, updates)


def _with_values(item: PlanItem, left: Mapping[str, str | None], right: Mapping[str, str | None]) -> PlanItem:
    return replace(item, left_values=dict(left), right_values=dict(right))


def _created_right(result: _Result) -> bool:
    """This result's record was created on the right by this run."""
    return result.error is None and _write(result.item, Side.RIGHT, Action.CREATE) is not None


def _write(item: PlanItem, side: Side, action: Action) -> Write | None:
    for write in item.writes:  # a loop, not `next` over a generator: this runs several times per record
        if write.side is side and write.action is action:
            return write
    return None


def _written(result: _Result, name: str) -> str | None:
    for write in result.item.writes:
        if write.side is Side.RIGHT and name in write.values:
            return write.values[name]
    return None


def _fail(result: _Result, error: Any) -> None:
    result.error = getattr(error, "message", None) or str(error)
    result.remote_status = getattr(error, "status", None)
    result.remote_response = {"code": getattr(error, "code", None), "message": result.error}
