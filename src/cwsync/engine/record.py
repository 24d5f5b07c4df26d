"""Links and run items, built in one place with one projection hash, and recorded together.

A `Recorder` is made per pair and run. `link(...)` and `item(...)` fill in what every link and item of the pair
shares (tenant, pair, run, both hashes); `commit(...)` writes a batch's links, dropped links, run items and the
clearing of its journal entries in one transaction, so a crash leaves none of it or all of it.

Creates in a system without an idempotency key go through the journal: `intend(keys)` notes them (one small
transaction) before the writes are sent, and `commit(..., settled=keys)` clears them with the links. An intent left
over means the record may exist there already (the answer was lost, or the process was killed): the next run
looks it up (`pending`) before it creates it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from cwsync.store import Action, Flow, ItemRow, ItemStatus, JournalEntry, LastWriter, Link, RunItem, Store, Tx

__all__ = ["Recorder", "projection_hash"]

CREATE_STEP = "create"


_HASHED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""The hash's encoding, made once (`json.dumps` with these options builds an encoder per call)."""
_PLAIN = frozenset({str, bool, int, type(None)})
"""Value types orjson encodes as `_HASHED` does (sorted, compact), as long as the text is printable ASCII."""


def projection_hash(values: Mapping[str, Any]) -> str:
    """A stable hash of a projection (sorted keys, compact JSON): links keep it to tell changed from unchanged.

    The encoding is `json`'s with sorted keys, compact separators and `ensure_ascii` (the hashes stored links hold
    were made so). orjson makes the same bytes five times faster for a projection of texts (a link hashes two per
    record): used when every value is a text, a number or empty and the output is ASCII without DEL (`json`
    escapes DEL and non-ASCII, orjson does not); anything else goes through `json`."""
    if _PLAIN.issuperset(map(type, values.values())):
        try:
            data = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):  # keys that are not texts, integers past 64 bits
            data = b"\x7f"
        if data.isascii() and b"\x7f" not in data:
            return hashlib.sha256(data).hexdigest()[:32]
    return hashlib.sha256(_HASHED.encode(values).encode()).hexdigest()[:32]


class Recorder:
    """Records one pair's outcomes in one run (nothing at all in a dry run)."""

    def __init__(self, store: Store, tenant: str, pair: str, run_id: int | None, *, dry_run: bool = False) -> None:
        self.store, self.tenant, self.pair, self.run_id, self.dry_run = store, tenant, pair, run_id, dry_run

    def link(
        self,
        left_id: str,
        right_id: str,
        *,
        left_values: Mapping[str, Any],
        right_values: Mapping[str, Any] | None = None,
        match_key: str | None = None,
        last_writer: LastWriter | None = "left",
        synced_at: datetime | None = None,
        owned: bool = False,
    ) -> Link:
        """The link of a pair of records after this run, with both projections and their hashes, synced at
        `synced_at` (now when None). `owned`: `right_values` is a dict made for this link, kept as it is (not
        copied); the left values are copied either way (a plan's item holds them too)."""
        right = right_values if owned and type(right_values) is dict else dict(right_values or {})
        return Link(
            tenant=self.tenant,
            pair=self.pair,
            left_id=str(left_id),
            right_id=str(right_id),
            match_key=match_key,
            left_values=dict(left_values),
            right_values=right,
            left_hash=projection_hash(left_values),
            right_hash=projection_hash(right) if right else "",
            last_writer=last_writer,
            synced_at=synced_at or datetime.now(UTC),
        )

    def item(
        self,
        action: Action,
        *,
        status: ItemStatus = "applied",
        left_id: str | None = None,
        right_id: str | None = None,
        reason: str = "",
        direction: Flow = "left_to_right",
        diff: Mapping[str, Any] | None = None,
        source_values: Mapping[str, Any] | None = None,
        error: Exception | str | None = None,
        remote_status: int | None = None,
        remote_response: Any = None,
    ) -> RunItem:
        """A run item of this pair's run; with `error`, a failed one whose answer keeps the error."""
        assert self.run_id is not None, "a dry run records no run items"
        if error is not None:
            status = "failed"
            remote_status = remote_status if remote_status is not None else getattr(error, "status", None)
            if remote_response is None:
                remote_response = {"error": str(error)}
        return RunItem(
            run_id=self.run_id,
            tenant=self.tenant,
            pair=self.pair,
            direction=direction,
            action=action,
            status=status,
            left_id=None if left_id is None else str(left_id),
            right_id=None if right_id is None else str(right_id),
            reason=reason,
            diff={k: list(v) for k, v in (diff or {}).items()},
            source_values=dict(source_values or {}),
            remote_status=remote_status,
            remote_response=remote_response,
        )

    def row(
        self,
        action: Action,
        *,
        left_id: str | None,
        right_id: str | None,
        reason: str,
        diff: Mapping[str, Sequence[Any]],
        source_values: Mapping[str, Any],
        error: Exception | None = None,
        direction: Flow = "left_to_right",
        status: ItemStatus = "applied",
        remote_status: int | None = None,
        remote_response: Any = None,
    ) -> ItemRow:
        """`item(...)` as the store's row: what the engines record for every record they decide, without a
        `RunItem` in between. `diff` and `source_values` are taken as they are (the row is written by the next
        `commit`, whose JSON encoding writes a diff's pairs as lists; a dry run's `commit` writes nothing)."""
        if error is not None:
            status = "failed"
            remote_status = remote_status if remote_status is not None else getattr(error, "status", None)
            if remote_response is None:
                remote_response = {"error": str(error)}
        return (
            self.run_id,
            self.tenant,
            self.pair,
            direction,
            action,
            status,
            left_id,
            right_id,
            reason,
            diff or {},
            source_values,
            remote_status,
            remote_response,
        )

    async def commit(
        self,
        *,
        links: Sequence[Link] = (),
        items: Sequence[RunItem] = (),
        rows: Sequence[ItemRow] = (),
        dropped: Iterable[str] = (),
        settled: Iterable[str] = (),
    ) -> int:
        """Write a batch's outcome in one transaction: links, links of `dropped` left ids removed, run items (as
        `RunItem`s or `row`s), and the journal entries of `settled` keys cleared. Returns the links the store
        released (their right id went to another left id)."""
        dropped, settled = list(dropped), list(settled)
        if self.dry_run or not (links or items or rows or dropped or settled):
            return 0

        async def body(tx: Tx) -> int:
            return await self.record_in(tx, links=links, items=items, rows=rows, dropped=dropped, settled=settled)

        # `Store.write`: on SQLite the whole transaction runs at once, not a trip to the driver's thread per
        # statement (the thread hops and their GIL hand-overs were most of a first device sync's recording time).
        return await self.store.write(body)

    async def record_in(
        self,
        tx: Tx,
        *,
        links: Sequence[Link] = (),
        items: Sequence[RunItem] = (),
        rows: Sequence[ItemRow] = (),
        dropped: Iterable[str] = (),
        settled: Iterable[str] = (),
    ) -> int:
        """What `commit` writes, inside the caller's transaction (a workflow's outcome commits with its state)."""
        if self.dry_run:
            return 0
        released = await tx.upsert_links(links) if links else 0
        dropped, settled = list(dropped), list(settled)
        if dropped:
            await tx.delete_links(self.tenant, self.pair, dropped)
        if items:
            await tx.add_run_items(items)
        if rows:
            await tx.add_item_rows(rows)
        if settled:
            await tx.clear_journal(self.tenant, self.pair, settled)
        return released

    # -- the journal of creates ---------------------------------------------------------------------------------

    async def intend(self, intents: Mapping[str, Mapping[str, Any]]) -> None:
        """Note, before sending them, the creates about to be made: left id → what finds the record afterwards."""
        if self.dry_run or not intents:
            return
        entries = [
            JournalEntry(tenant=self.tenant, scope=self.pair, key=str(key), step=CREATE_STEP, data=dict(data))
            for key, data in intents.items()
        ]
        async with self.store.transaction() as tx:
            await tx.write_journal(entries)

    async def pending(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Creates noted by an earlier attempt and never recorded (of these left ids, when given): left id → data."""
        entries = await self.store.journal(self.tenant, self.pair, None if keys is None else list(keys))
        return {e.key: dict(e.data) for e in entries if e.step == CREATE_STEP and e.status == "intent"}
