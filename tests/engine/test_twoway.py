"""The engine's two-way loop on in-memory sides over a real store (SQLite), with no HubSpot in it: what a second
CRM would write against (`engine.twoway.TwoWayPair`). A record made on either side is created on the other, a match
by key links instead of creating, a change on either side flows to the other and the echo of cwsync's own write plans
nothing, a record deleted on the left archives its counterpart, one deleted on the right is marked gone, a refused
write fails alone and is written by the next run, and replay takes ids of either side."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cwsync.config.vocabulary import Direction
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.engine.engine import Engine
from cwsync.engine.pair import Flow, Raw, Write, WriteResult
from cwsync.engine.twoway import STAMP, TwoWayPair
from cwsync.store import Store

T, PAIR = "default", "people"
MAPPING = ObjectMapping(
    PAIR,
    "people",
    "persons",
    (FieldMap("email", "email", "mail"), FieldMap("name", "name", "full_name")),
    ("email",),
    Direction.BOTH,
)
_clock = itertools.count(1)


def _moment() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock))


class Left:
    """ConnectWise as a dict of records (`id`, `email`, `name`, `updated`)."""

    def __init__(self) -> None:
        self.records: dict[str, Raw] = {}
        self.ids = itertools.count(100)

    def put(self, **values: Any) -> str:
        record_id = str(values.pop("id", None) or next(self.ids))
        self.records[record_id] = {**self.records.get(record_id, {}), **values, "id": record_id, "updated": _moment()}
        return record_id

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        yield [dict(r) for r in self.records.values() if since is None or r["updated"] >= since]

    async def count_changed(self, since: datetime | None) -> int:
        return sum(1 for r in self.records.values() if since is None or r["updated"] >= since)

    async def get_many(self, record_ids: Sequence[str]) -> list[Raw]:
        return [dict(self.records[i]) for i in record_ids if i in self.records]

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]:
        wanted = {v.lower() for v in values}
        return {str(r[key]).lower(): dict(r) for r in self.records.values() if str(r.get(key)).lower() in wanted}

    def flatten(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return dict(raw)

    def updated_at(self, raw: Mapping[str, Any]) -> datetime | None:
        moment = raw.get("updated")
        return moment if isinstance(moment, datetime) else None

    async def write_create(self, mapping: ObjectMapping, values: Mapping[str, str | None], right_id: str) -> Raw:
        record_id = self.put(email=values["email"], name=values["name"])
        return dict(self.records[record_id])

    async def write_update(
        self, mapping: ObjectMapping, left_id: str, values: Mapping[str, str | None], current: Raw | None
    ) -> None:
        self.put(id=left_id, **{k: v for k, v in values.items() if k in ("email", "name")})


class Right:
    """The other system as a dict of objects (`id`, `properties`, `updatedAt`), its writes through `RightTarget`."""

    object_type = "persons"

    def __init__(self) -> None:
        self.objects: dict[str, Raw] = {}
        self.ids = itertools.count(900)
        self.read_mark: datetime | None = None

    def put(self, object_id: str | None = None, **properties: Any) -> str:
        object_id = object_id or str(next(self.ids))
        old = self.objects.get(object_id, {}).get("properties", {})
        self.objects[object_id] = {"id": object_id, "properties": {**old, **properties}, "updatedAt": _moment()}
        return object_id

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        yield [dict(o) for o in self.objects.values() if since is None or o["updatedAt"] >= since]

    async def get_many(self, object_ids: Sequence[str]) -> list[Raw]:
        return [dict(self.objects[i]) for i in object_ids if i in self.objects]

    async def find(self, key: str, values: Sequence[str]) -> dict[str, Raw]:
        wanted = {v.lower() for v in values}
        return {
            str(o["properties"].get(key)).lower(): dict(o)
            for o in self.objects.values()
            if str(o["properties"].get(key)).lower() in wanted
        }

    def stamp(self, raw: Mapping[str, Any]) -> str | None:
        return raw["updatedAt"].isoformat()

    def updated_at(self, raw: Mapping[str, Any]) -> datetime | None:
        moment = raw["updatedAt"]
        return moment if isinstance(moment, datetime) else None

    def flatten(self, raw: Mapping[str, Any], references: Mapping[str, str | None]) -> dict[str, Any]:
        return {**raw["properties"], "id": raw["id"], **references}

    async def parents_of(self, parent_pair: str, ids: Sequence[str]) -> dict[str, list[str]]:
        return {}

    async def associate(self, parent_pair: str, pairs: Sequence[tuple[str, str]]) -> None:
        raise AssertionError("no references here")

    def write_properties(
        self, mapping: ObjectMapping, values: Mapping[str, str | None], *, create: bool
    ) -> dict[str, Any]:
        return {f.right: values[f.name] for f in mapping.fields if f.name in values}

    async def backfill(self, mapping: ObjectMapping, object_id: str, values: Mapping[str, str | None]) -> None:
        self.put(object_id, **self.write_properties(mapping, values, create=False))


class RightTarget:
    """The right side's writes, a result per record; `refused` ConnectWise ids fail alone."""

    def __init__(self, right: Right) -> None:
        self.right, self.calls, self.refused = right, 0, set[str]()

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        return {}

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        self.calls += 1
        out = []
        for w in writes:
            if w.left_id in self.refused:
                out.append(WriteResult(w, error=ValueError("refused by the right side")))
            elif w.action == "delete":
                self.right.objects.pop(str(w.right_id), None)
                out.append(WriteResult(w, right_id=w.right_id))
            else:
                object_id = self.right.put(w.right_id, **w.values)
                stamp = self.right.stamp(self.right.objects[object_id])
                out.append(WriteResult(w, right_id=object_id, right_values={STAMP: stamp}))
        return out


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Store, Left, Right, RightTarget]]:
    store = await Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    right = Right()
    yield store, Left(), right, RightTarget(right)
    await store.close()


def _pair(left: Left, right: Right, target: RightTarget) -> TwoWayPair:
    return TwoWayPair(name=PAIR, mapping=lambda: MAPPING, left=left, right=right, target=target, label="Other")


async def _run(store: Store, pair: TwoWayPair, **kwargs: Any) -> dict[str, int]:
    report = await Engine(store, T).run([pair], flow=Flow(batch=10, hold=20), **kwargs)
    counts = report.counts.as_dict()
    return {k: v for k, v in counts.items() if v}


async def test_records_flow_both_ways_and_the_echo_plans_nothing(
    world: tuple[Store, Left, Right, RightTarget],
) -> None:
    store, left, right, target = world
    pair = _pair(left, right, target)
    ann = left.put(email="ann@x.test", name="Ann")
    left.put(email="bob@x.test", name="Bob")
    bob_there = right.put(mail="BOB@x.test", full_name="Bob")
    cid = right.put(mail="cid@x.test", full_name="Cid")

    assert await _run(store, pair) == {"created": 2, "linked": 1}
    mails = {o["properties"]["mail"] for o in right.objects.values()}
    assert mails == {"ann@x.test", "bob@x.test", "cid@x.test"}  # the matched Bob takes ConnectWise's spelling
    assert {r["email"] for r in left.records.values()} == {"ann@x.test", "bob@x.test", "cid@x.test"}
    links = await store.links_by_right(T, PAIR, [bob_there, cid])
    assert set(links) == {bob_there, cid}  # Bob matched by key (no second Bob), Cid created on the left

    assert await _run(store, pair) == {"unchanged": 3}  # cwsync's own writes read back: echoes

    left.put(id=ann, name="Ann Smith")
    right.put(cid, full_name="Cid Jones")
    assert await _run(store, pair) == {"unchanged": 1, "updated": 2}
    ann_link = (await store.links_by_left(T, PAIR, [ann]))[ann]
    assert right.objects[ann_link.right_id]["properties"]["full_name"] == "Ann Smith"
    assert next(r for r in left.records.values() if r["email"] == "cid@x.test")["name"] == "Cid Jones"


async def test_deletions_on_either_side_under_the_pair_policies(
    world: tuple[Store, Left, Right, RightTarget],
) -> None:
    store, left, right, target = world
    pair = _pair(left, right, target)
    ann = left.put(email="ann@x.test", name="Ann")
    bob = left.put(email="bob@x.test", name="Bob")
    left.put(email="cid@x.test", name="Cid")
    await _run(store, pair)
    links = await store.links_by_left(T, PAIR, [ann, bob])

    del left.records[ann]  # deleted in ConnectWise: a full read confirms it gone, its counterpart is archived
    del right.objects[links[bob].right_id]  # deleted on the right: the link is marked, nothing is re-created
    assert await _run(store, pair, full=True) == {"deleted": 1, "skipped": 1, "unchanged": 2}
    assert links[ann].right_id not in right.objects
    assert len(right.objects) == 1
    assert len(left.records) == 2
    items = await store.items_for_record(T, PAIR, left_id=bob, limit=1)
    assert items[0].reason.startswith("deleted in Other (not found by a full read)")


async def test_a_refused_write_fails_alone_and_the_next_run_writes_it(
    world: tuple[Store, Left, Right, RightTarget],
) -> None:
    store, left, right, target = world
    pair = _pair(left, right, target)
    ann = left.put(email="ann@x.test", name="Ann")
    left.put(email="bob@x.test", name="Bob")
    target.refused = {ann}
    assert await _run(store, pair) == {"created": 1, "failed": 1}
    target.refused = set()
    assert await _run(store, pair) == {"created": 1, "unchanged": 1}  # the cursor held: Ann was read again
    assert len(right.objects) == 2


async def test_replay_takes_ids_of_either_side_and_moves_no_cursor(
    world: tuple[Store, Left, Right, RightTarget],
) -> None:
    store, left, right, target = world
    pair = _pair(left, right, target)
    ann = left.put(email="ann@x.test", name="Ann")
    cid = right.put(mail="cid@x.test", full_name="Cid")
    assert await _run(store, pair, records={PAIR: [ann]}, right_records={PAIR: [cid]}) == {"created": 2}
    assert await store.cursor(T, PAIR, "left") is None
    assert await _run(store, pair) == {"unchanged": 2}


class CancelledAfterOnePage(Left):
    """Two pages of ConnectWise records; a cancel of the running run is asked for between them."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        records = [dict(r) for r in self.records.values()]
        yield records[:3]
        [run] = [r for r in await self.store.runs(T, limit=5) if r.status == "running"]
        await self.store.request_cancel(run.run_id)
        yield records[3:]


async def test_a_run_cancelled_mid_pair_records_what_it_wrote(world: tuple[Store, Left, Right, RightTarget]) -> None:
    store, _, right, target = world
    left = CancelledAfterOnePage(store)
    for n in range(6):
        left.put(email=f"p{n}@x.test", name=f"P{n}")
    report = await Engine(store, T).run([_pair(left, right, target)], flow=Flow(batch=10, hold=20))
    assert report.cancelled
    [run] = await store.runs(T, limit=5)
    assert (run.status, run.counts.created, len(right.objects)) == ("cancelled", 3, 3)
