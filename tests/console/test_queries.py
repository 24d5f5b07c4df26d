"""The console's reads: what is failing now, and a run's items about one record (same answer as the store's)."""

from __future__ import annotations

from pathlib import Path

from cwsync.store import RunItem, Store
from cwsync.store.console_queries import failing_now, item_counts, record_items_in_run


def _item(run: int, pair: str, left: str | None, right: str | None, status: str, reason: str = "") -> RunItem:
    return RunItem(
        run_id=run,
        tenant="t",
        pair=pair,
        direction="left_to_right",
        action="update",
        status=status,  # type: ignore[arg-type]
        left_id=left,
        right_id=right,
        reason=reason,
    )


async def test_failing_now_and_record_items(tmp_path: Path) -> None:
    """A record whose latest item failed is failing (by ConnectWise id, or the other side's when it has none); one a
    later item settled is not; a run's items about a record are the store's own filter's answer."""
    store = await Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        first = await store.start_run("t", pairs=["contacts", "companies"], kind="full", trigger="cli")
        second = await store.start_run("t", pairs=["contacts", "companies"], kind="incremental", trigger="cli")
        async with store.transaction() as tx:
            await tx.add_run_items(
                [
                    _item(first, "contacts", "1", "h1", "failed", "bad email"),
                    _item(first, "contacts", "2", "h2", "failed", "bad phone"),
                    _item(first, "companies", None, "h9", "failed", "no address"),
                    _item(first, "companies", "2", "h3", "applied"),
                    _item(first, "contacts", "7", "h7", "failed", "older failure"),
                ]
            )
            await tx.add_run_items(
                [
                    _item(second, "contacts", "1", "h1", "applied"),
                    _item(second, "contacts", "5", None, "failed", "x"),
                    _item(second, "contacts", "7", "h7", "failed", "newer failure"),
                ]
            )
        failing = await failing_now(store, "t")
        assert sorted((i.pair, i.left_id, i.right_id, i.reason) for i in failing) == [
            ("companies", None, "h9", "no address"),
            ("contacts", "2", "h2", "bad phone"),
            ("contacts", "5", None, "x"),
            ("contacts", "7", "h7", "newer failure"),  # failed twice: its latest failure only
        ]
        assert await failing_now(store, "other") == []
        run = await store.run(first)
        assert run is not None
        for record in ("2", "h9", "h1", "nobody"):
            mine = await record_items_in_run(store, run, record)
            theirs = await store.run_items(first, record=record)
            assert [i.item_id for i in mine] == [i.item_id for i in theirs]
        assert [i.status for i in await record_items_in_run(store, run, "2", status="applied")] == ["applied"]
        assert (await item_counts(store, [first]))[first] == {"failed": 4, "applied": 1}
    finally:
        await store.close()
