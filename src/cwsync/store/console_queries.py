"""Reads the web console needs beyond `Store`'s own: records failing now, the runs of a record, item counts.

Each is one or two indexed statements (migration `0007_console` adds the indexes), so a page answers in
milliseconds with hundreds of thousands of run items (`benchmarks/console_pages.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, union

from cwsync.store.records import RunItem, RunRecord
from cwsync.store.store import RUN_ITEMS, Store, _chunks, _item_of

__all__ = ["failing_now", "item_counts", "record_items_in_run"]


async def failing_now(store: Store, tenant: str, *, limit: int = 50, scan: int = 500) -> list[RunItem]:
    """The latest failed item of each record whose latest item failed (newest first): what is failing now.

    Looks at the tenant's `scan` newest failed items, then drops the records a later item settled (a record is its
    pair and ConnectWise id, or its other side's id when it has no ConnectWise id yet).
    """
    statement = (
        select(RUN_ITEMS)
        .where(RUN_ITEMS.c.tenant == tenant, RUN_ITEMS.c.status == "failed")
        .order_by(RUN_ITEMS.c.id.desc())
        .limit(scan)
    )
    async with store._connect() as conn:
        failed = [_item_of(row) for row in (await conn.execute(statement)).all()]
        newest: dict[tuple[str, str, str], RunItem] = {}
        for item in failed:
            side, record = ("left", item.left_id) if item.left_id else ("right", item.right_id)
            if record and (item.pair, side, record) not in newest:
                newest[(item.pair, side, record)] = item
        later: set[tuple[str, str, str]] = set()
        for side, column in (("left", RUN_ITEMS.c.left_id), ("right", RUN_ITEMS.c.right_id)):
            by_pair: dict[str, list[str]] = {}
            for pair, s, record in newest:
                if s == side:
                    by_pair.setdefault(pair, []).append(record)
            for pair, records in by_pair.items():  # one pair at a time: the (tenant, pair, id) indexes answer
                for chunk in _chunks(records, 200):
                    latest = (
                        select(column.label("record"), func.max(RUN_ITEMS.c.id).label("last"))
                        .where(RUN_ITEMS.c.tenant == tenant, RUN_ITEMS.c.pair == pair, column.in_(chunk))
                        .group_by(column)
                    )
                    for row in (await conn.execute(latest)).all():
                        key = (pair, side, row.record)
                        if key in newest and row.last != newest[key].item_id:
                            later.add(key)
    return [item for key, item in newest.items() if key not in later][:limit]


async def item_counts(store: Store, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per run, how many items it recorded per status (failed, applied, planned, skipped ...)."""
    out: dict[int, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return out
    statement = (
        select(RUN_ITEMS.c.run_id, RUN_ITEMS.c.status, func.count().label("n"))
        .where(RUN_ITEMS.c.run_id.in_(list(run_ids)))
        .group_by(RUN_ITEMS.c.run_id, RUN_ITEMS.c.status)
    )
    async with store._connect() as conn:
        for row in (await conn.execute(statement)).all():
            out[row.run_id][row.status] = int(row.n)
    return out


async def record_items_in_run(
    store: Store,
    run: RunRecord,
    record: str,
    *,
    action: str | None = None,
    status: str | None = None,
    pair: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[RunItem]:
    """A run's items about one record (its ConnectWise or other side's id), through the per-record indexes
    (tenant, pair, id) rather than the run's: a record has a few items, a run may have hundreds of thousands."""
    pairs = [pair] if pair else list(run.pairs)
    ids = union(
        *(
            select(RUN_ITEMS.c.id).where(
                RUN_ITEMS.c.tenant == run.tenant, RUN_ITEMS.c.pair.in_(pairs), column == record
            )
            for column in (RUN_ITEMS.c.left_id, RUN_ITEMS.c.right_id)
        )
    )
    statement = select(RUN_ITEMS).where(RUN_ITEMS.c.id.in_(ids), RUN_ITEMS.c.run_id == run.run_id)
    for column, value in ((RUN_ITEMS.c.action, action), (RUN_ITEMS.c.status, status)):
        if value is not None:
            statement = statement.where(column == value)
    statement = statement.order_by(RUN_ITEMS.c.id).limit(limit).offset(offset)
    async with store._connect() as conn:
        return [_item_of(row) for row in (await conn.execute(statement)).all()]
