"""Reads the web console needs beyond `Store`'s own: records failing now, the runs of a record, item counts.

Each is one or two indexed statements (migration `0008_console` adds the indexes), so a page answers in
milliseconds with hundreds of thousands of run items (`benchmarks/console_pages.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, exists, func, or_, select, union

from cwsync.store.records import RunItem, RunRecord
from cwsync.store.store import RUN_ITEMS, Store, _item_of

__all__ = ["failing_now", "item_counts", "record_items_in_run"]


async def failing_now(store: Store, tenant: str, *, limit: int = 50, scan: int = 500) -> list[RunItem]:
    """The latest failed item of each record whose latest item failed (newest first): what is failing now.

    Looks at the tenant's `scan` newest failed items and keeps those no later item of the same record follows (a
    record is its pair and ConnectWise id, or its other side's id when it has no ConnectWise id yet): one
    statement, the later items found through the (tenant, pair, id) indexes — the dashboard's round trips to the
    database are what a loaded machine makes slow, not its work.
    """
    items = RUN_ITEMS.c
    later = RUN_ITEMS.alias("later")
    recent = (
        select(items.id).where(items.tenant == tenant, items.status == "failed").order_by(items.id.desc()).limit(scan)
    )
    has_left = and_(items.left_id.is_not(None), items.left_id != "")
    same_pair = and_(later.c.tenant == items.tenant, later.c.pair == items.pair, later.c.id > items.id)
    settled_left = exists().where(same_pair, later.c.left_id == items.left_id)
    settled_right = exists().where(same_pair, later.c.right_id == items.right_id)
    statement = (
        select(RUN_ITEMS)
        .where(
            items.id.in_(recent.scalar_subquery()),
            or_(
                and_(has_left, ~settled_left),
                and_(~has_left, items.right_id.is_not(None), items.right_id != "", ~settled_right),
            ),
        )
        .order_by(items.id.desc())
        .limit(limit)
    )
    async with store._connect() as conn:
        return [_item_of(row) for row in (await conn.execute(statement)).all()]


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
