"""Planning a sync of one object pair: pure data in, a plan out (BY-1, HS-6, HS-8, HS-10).

For every changed record on either side the planner decides: create it on the other side, link it to a matching
record, update the other side (or both) field by field, skip it (with the reason), or leave it unchanged.

Linked records merge three-way against the values stored with the link at the last sync (the *base*): a field
changed on one side only flows to the other (if its direction allows); a field changed on both sides is a conflict
resolved by the pair's policy and recorded. A record whose projection equals its base has not changed, which is
what suppresses echoes of the engine's own writes (HS-10). The same planner serves dry runs and real runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cwsync.config.vocabulary import Action, ConflictPolicy, Direction, Side
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.core.values import compare_key, same

Values = Mapping[str, str | None]

EXCLUDED = "@excluded"
"""Kept in a link's left values while its ConnectWise record is excluded (a filter, inactive): why. A change of the
counterpart is then left alone too, even in a run that does not read the ConnectWise record (#13: filters hold for
linked records both ways). The next read of the record decides again (a record back in the filter syncs)."""
GONE = "@gone"
"""Kept in a link's right values once its counterpart was found deleted on the right (and the pair's policy keeps
the link): why. The record is then left alone instead of updating what is not there, until the counterpart is
read again (restored)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A record of one side as the planner sees it: its flat form, its projection, when it last changed."""

    id: str
    values: Values
    flat: Mapping[str, object] = field(default_factory=dict)
    updated_at: datetime | None = None
    skip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LinkBase:
    """What the store remembers of a linked pair: ids and the projections at the last sync."""

    left_id: str
    right_id: str
    left_values: Values
    right_values: Values


@dataclass(frozen=True, slots=True)
class Write:
    """One write the plan asks for: create or update a record on a side with canonical values."""

    side: Side
    action: Action
    record_id: str | None
    values: Values


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field changed on both sides since the last sync, and who won."""

    field: str
    left: str | None
    right: str | None
    base: str | None
    winner: Side


@dataclass(frozen=True, slots=True)
class PlanItem:
    """The decision for one record (or one linked pair)."""

    pair: str
    action: Action
    left_id: str | None
    right_id: str | None
    reason: str
    writes: tuple[Write, ...] = ()
    diff: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    match_key: str | None = None
    left_values: Values | None = None
    right_values: Values | None = None
    source: Side = Side.LEFT
    source_values: Values = field(default_factory=dict)


@dataclass(frozen=True)
class PairInput:
    """Everything the planner needs for one pair, already read by the runner."""

    mapping: ObjectMapping
    policy: ConflictPolicy
    left: Sequence[Snapshot]
    right: Sequence[Snapshot]
    links_by_left: Mapping[str, LinkBase]
    links_by_right: Mapping[str, LinkBase]
    right_matches: Mapping[tuple[str, str], Snapshot] = field(default_factory=dict)
    left_matches: Mapping[tuple[str, str], Snapshot] = field(default_factory=dict)
    parents: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    create_diffs: bool = True
    """Whether a create's item carries its diff (every value it sets); False for a one-way runner, which reports a
    create by its values and would throw the diff away (a dictionary per record of a first sync)."""


def match_values(mapping: ObjectMapping, values: Values) -> list[tuple[str, str]]:
    """The (match key, comparable value) pairs of a projection, in the order of the mapping's match keys."""
    out = []
    for key, kind in mapping.match_types:
        value = compare_key(kind, values.get(key))
        if value:
            out.append((key, value.lower()))
    return out


def plan_pair(data: PairInput) -> list[PlanItem]:
    """Plan one pair: an item per changed record, in a stable order (left records first, then right)."""
    return _Planner(data).run()


async def plan_pair_cooperatively(data: PairInput, every: int = 100) -> list[PlanItem]:
    """`plan_pair`, handing the event loop back after every `every` records: a page of a thousand records takes
    a few hundred milliseconds to plan, and requests due meanwhile (a rate limiter's slots) should not wait for it."""
    planner = _Planner(data)
    for _ in planner.steps(every):
        await asyncio.sleep(0)
    return planner.items


class _Planner:
    def __init__(self, data: PairInput) -> None:
        self.data = data
        self.m = data.mapping
        self.fields = data.mapping.by_name()
        self.items: list[PlanItem] = []
        self.done_left: set[str] = set()
        self.done_right: set[str] = set()
        self.claimed: dict[tuple[str, str], str] = {}
        fields = data.mapping.fields
        self.towards = {
            side: tuple(f.name for f in fields if f.direction.allows(side.towards)) for side in (Side.LEFT, Side.RIGHT)
        }
        """Per target side: the fields a create there carries."""
        self.required = {side: tuple(f.name for f in fields if _required(f, side)) for side in (Side.LEFT, Side.RIGHT)}
        keys = ", ".join(self.m.match)
        self.creates = {
            side: (self.m.direction.allows(side.towards), f"no match on the {side.value} ({keys}): create")
            for side in (Side.LEFT, Side.RIGHT)
        }
        """Per target side: whether the pair creates there, and the reason a create gives (a create per record of a
        first sync: made once)."""

    def run(self) -> list[PlanItem]:
        for _ in self.steps(len(self.data.left) + len(self.data.right) + 1):
            pass
        return self.items

    def steps(self, every: int) -> Iterator[None]:
        """Plan every record, pausing (yielding) after each `every` of them."""
        rights = {r.id: r for r in self.data.right}
        lefts = {r.id: r for r in self.data.left}
        planned = 0
        for record in self.data.left:
            self._plan_record(record, Side.LEFT, rights)
            planned += 1
            if planned % every == 0:
                yield
        for record in self.data.right:
            if record.id not in self.done_right:
                self._plan_record(record, Side.RIGHT, lefts)
            planned += 1
            if planned % every == 0:
                yield

    def _plan_record(self, record: Snapshot, side: Side, others: Mapping[str, Snapshot]) -> None:
        links = self.data.links_by_left if side is Side.LEFT else self.data.links_by_right
        link = links.get(record.id)
        if link is not None:
            other_id = link.right_id if side is Side.LEFT else link.left_id
            other = others.get(other_id)
            excluded = self._excluded(link, record, other, side)
            if excluded is not None:
                self.done_left.add(link.left_id)
                self.done_right.add(link.right_id)
                self._add(_skip(self.m.pair, record, side, excluded, other_id))
                return
            left, right = (record, other) if side is Side.LEFT else (other, record)
            self._linked(link, left, right, side)
        elif record.skip_reason:
            self._add(_skip(self.m.pair, record, side, record.skip_reason))
        else:
            self._unlinked(record, side)

    @staticmethod
    def _excluded(link: LinkBase, record: Snapshot, other: Snapshot | None, side: Side) -> str | None:
        """Why a linked pair is left alone: one of its records is excluded (filters and standard filters decide
        for linked records too), as read now or, for a ConnectWise record not read, as the link remembers."""
        other_id = link.right_id if side is Side.LEFT else link.left_id
        kept = f": its counterpart ({other_id}) is kept and no longer synced"
        if record.skip_reason:
            return record.skip_reason + kept
        if other is not None:
            return other.skip_reason + kept if other.skip_reason else None
        if side is Side.RIGHT and link.left_values.get(EXCLUDED):
            return f"{link.left_values[EXCLUDED]}{kept}"
        if side is Side.LEFT and link.right_values.get(GONE):
            return f"{link.right_values[GONE]}: not synced until it is restored there"
        return None

    # -- linked pairs: three-way merge ---------------------------------------------------------------------------

    def _linked(self, link: LinkBase, left: Snapshot | None, right: Snapshot | None, source: Side) -> None:
        self.done_left.add(link.left_id)
        self.done_right.add(link.right_id)
        lv = left.values if left else link.left_values
        rv = right.values if right else link.right_values
        newest = _newest(left, right)
        merge = _merge(self.m, self.data.policy, lv, rv, link.left_values, link.right_values, newest)
        item = self._item_from_merge(merge, link.left_id, link.right_id, lv, rv, source, new_link=False)
        self._add(item)

    def _item_from_merge(
        self,
        merge: _Merge,
        left_id: str,
        right_id: str,
        lv: Values,
        rv: Values,
        source: Side,
        *,
        new_link: bool,
        match_key: str | None = None,
    ) -> PlanItem:
        writes = []
        if merge.to_right:
            writes.append(Write(Side.RIGHT, Action.UPDATE, right_id, merge.to_right))
        if merge.to_left:
            writes.append(Write(Side.LEFT, Action.UPDATE, left_id, merge.to_left))
        blocked = self._blocked(writes)
        source_values = lv if source is Side.LEFT else rv
        if blocked:
            return PlanItem(
                self.m.pair, Action.SKIP, left_id, right_id, blocked, source=source, source_values=source_values
            )
        action = Action.LINK if new_link else (Action.UPDATE if writes else Action.UNCHANGED)
        return PlanItem(
            pair=self.m.pair,
            action=action,
            left_id=left_id,
            right_id=right_id,
            reason=_reason(action, merge, match_key),
            writes=tuple(writes),
            diff=merge.diff,
            conflicts=tuple(merge.conflicts),
            match_key=match_key,
            left_values={**lv, **merge.to_left},
            right_values={**rv, **merge.to_right},
            source=source,
            source_values=source_values,
        )

    # -- records without a link: match, else create ------------------------------------------------------------

    def _unlinked(self, record: Snapshot, side: Side) -> None:
        matches = self.data.right_matches if side is Side.LEFT else self.data.left_matches
        other_links = self.data.links_by_right if side is Side.LEFT else self.data.links_by_left
        keys = match_values(self.m, record.values)
        for key in keys:
            if key in self.claimed:
                reason = f"same {key[0]} as {side.value} record {self.claimed[key]} in this run: not created twice"
                self._add(_skip(self.m.pair, record, side, reason))
                return
        for key in keys:
            candidate = matches.get(key)
            if candidate is not None and candidate.skip_reason and candidate.id not in other_links:
                reason = f"same {key[0]} as {side.other.value} record {candidate.id}, which is excluded"
                self._add(_skip(self.m.pair, record, side, f"{reason} ({candidate.skip_reason}): left alone"))
                return
            if candidate is not None and candidate.id not in other_links and not self._taken(candidate.id, side):
                self._claim(keys, record.id)
                self._link_new(record, candidate, side, key[0])
                return
        self._claim(keys, record.id)
        self._create(record, side)

    def _taken(self, other_id: str, side: Side) -> bool:
        return other_id in (self.done_right if side is Side.LEFT else self.done_left)

    def _claim(self, keys: list[tuple[str, str]], record_id: str) -> None:
        for key in keys:
            self.claimed.setdefault(key, record_id)

    def _link_new(self, record: Snapshot, candidate: Snapshot, side: Side, match_key: str) -> None:
        left, right = (record, candidate) if side is Side.LEFT else (candidate, record)
        self.done_left.add(left.id)
        self.done_right.add(right.id)
        newest = _newest(left, right)
        merge = _merge(self.m, self.data.policy, left.values, right.values, None, None, newest)
        item = self._item_from_merge(
            merge, left.id, right.id, left.values, right.values, side, new_link=True, match_key=match_key
        )
        self._add(item)

    def _create(self, record: Snapshot, side: Side) -> None:
        target = side.other
        allowed, reason = self.creates[target]
        if not allowed:
            reason = f"not created on the {target.value}: the pair flows {self.m.direction.value}"
            self._add(_skip(self.m.pair, record, side, reason))
            return
        get = record.values.get
        values = {name: get(name) for name in self.towards[target]}
        missing = [name for name in self.required[target] if not values.get(name)]
        if missing:
            self._add(_skip(self.m.pair, record, side, f"cannot create: missing {', '.join(missing)}"))
            return
        write = Write(target, Action.CREATE, None, values)
        blocked = self._blocked([write])
        if blocked:
            self._add(_skip(self.m.pair, record, side, blocked))
            return
        left_id, right_id = (record.id, None) if side is Side.LEFT else (None, record.id)
        (self.done_left if side is Side.LEFT else self.done_right).add(record.id)
        self.items.append(
            PlanItem(
                pair=self.m.pair,
                action=Action.CREATE,
                left_id=left_id,
                right_id=right_id,
                reason=reason,
                writes=(write,),
                diff={name: (None, value) for name, value in values.items() if value is not None}
                if self.data.create_diffs
                else {},
                left_values=record.values if side is Side.LEFT else values,
                right_values=values if side is Side.LEFT else record.values,
                source=side,
                source_values=record.values,
            )
        )

    # -- dependencies (HS-8) ---------------------------------------------------------------------------------------

    def _blocked(self, writes: Sequence[Write]) -> str | None:
        """Why the writes cannot happen yet: a referenced parent has no counterpart on the target side."""
        if not self.m.references:
            return None
        for write in writes:
            for name, parent_pair in self.m.references.items():
                value = write.values.get(name)
                if value is None:
                    continue
                known = self.data.parents.get(name, {})
                if write.side is Side.RIGHT and value not in known:
                    return f"waits for {parent_pair} {value}: it has no counterpart on the right yet"
                if write.side is Side.LEFT and value.startswith("right:"):
                    return f"waits for {parent_pair} {value[6:]} on the right: it has no ConnectWise counterpart yet"
        return None

    def _add(self, item: PlanItem) -> None:
        self.items.append(item)


def _required(f: FieldMap, target: Side) -> bool:
    return f.required_right if target is Side.RIGHT else f.required_left


def _skip(pair: str, record: Snapshot, side: Side, reason: str, other_id: str | None = None) -> PlanItem:
    left_id, right_id = (record.id, other_id) if side is Side.LEFT else (other_id, record.id)
    return PlanItem(pair, Action.SKIP, left_id, right_id, reason, source=side, source_values=record.values)


def _newest(left: Snapshot | None, right: Snapshot | None) -> Side | None:
    if left is None or right is None or left.updated_at is None or right.updated_at is None:
        return None
    return Side.LEFT if left.updated_at >= right.updated_at else Side.RIGHT


@dataclass
class _Merge:
    to_left: dict[str, str | None] = field(default_factory=dict)
    to_right: dict[str, str | None] = field(default_factory=dict)
    diff: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _merge(
    mapping: ObjectMapping,
    policy: ConflictPolicy,
    lv: Values,
    rv: Values,
    base_left: Values | None,
    base_right: Values | None,
    newest: Side | None,
) -> _Merge:
    """Field by field: who changed since the base, and where each value must go."""
    out = _Merge()
    for f in mapping.fields:
        left, right = lv.get(f.name), rv.get(f.name)
        if same(f.right_type, left, right):
            continue
        if base_left is None or base_right is None:
            winner = _winner(policy, newest, f)
        else:
            changed_left = not same(f.right_type, left, base_left.get(f.name))
            changed_right = not same(f.right_type, right, base_right.get(f.name))
            if changed_left and changed_right:
                winner = _winner(policy, newest, f)
                out.conflicts.append(Conflict(f.name, left, right, base_left.get(f.name), winner))
            elif changed_left or changed_right:
                winner = Side.LEFT if changed_left else Side.RIGHT
            else:
                winner = _winner(policy, newest, f)
        _route(out, f, winner, left, right)
    return out


def _winner(policy: ConflictPolicy, newest: Side | None, f: FieldMap) -> Side:
    if f.direction is Direction.TO_RIGHT:
        return Side.LEFT
    if f.direction is Direction.TO_LEFT:
        return Side.RIGHT
    if policy is ConflictPolicy.OTHER_WINS:
        return Side.RIGHT
    if policy is ConflictPolicy.NEWEST_WINS and newest is not None:
        return newest
    return Side.LEFT


def _route(out: _Merge, f: FieldMap, winner: Side, left: str | None, right: str | None) -> None:
    target = winner.other
    value = left if target is Side.RIGHT else right
    if not f.direction.allows(target.towards) or (value is None and not f.write_empty):
        out.ignored.append(f.name)
        return
    if target is Side.RIGHT:
        out.to_right[f.name] = left
        out.diff[f.name] = (right, left)
    else:
        out.to_left[f.name] = right
        out.diff[f.name] = (left, right)


def _reason(action: Action, merge: _Merge, match_key: str | None) -> str:
    parts = []
    if action is Action.LINK:
        parts.append(f"matched on {match_key}")
    if merge.to_right:
        parts.append(f"right gets {', '.join(sorted(merge.to_right))}")
    if merge.to_left:
        parts.append(f"left gets {', '.join(sorted(merge.to_left))}")
    if merge.conflicts:
        parts.append("conflict on " + ", ".join(f"{c.field} ({c.winner.value} wins)" for c in merge.conflicts))
    if merge.ignored:
        parts.append(f"not synced by direction: {', '.join(sorted(merge.ignored))}")
    if not parts:
        parts.append("no mapped field changed")
    return "; ".join(parts)
