"""Change records and their processed events in the store (SQLite or PostgreSQL).

::

    changes = ChangeStore(store, tenant="default")
    record = await changes.get("CHG-1")
    seen = await changes.event("CHG-1", "evt-7")        # None, or its status, payload hash, result
    if await changes.begin_event("CHG-1", "evt-7", kind="scheduled", payload_hash=h):
        ...                                             # its writes: steps journaled under journal_scope("CHG-1")
        await changes.finish_event(record_after, expected_version=record.version, event_id="evt-7", result=r)

An event is `applying` from `begin_event` until `finish_*` commits the change's new state together with the event's
result, in one transaction. A change row is only updated if its `version` is the one the event was planned on, so
two events of one change can never both apply against the same state. What an applying event finished before a
failure is journaled by the workflows' step runner in the store's journal (scope `changes:<change id>`, key the
event id); `finish_*` clears that journal in the same transaction (unless told there is none: `journal=False`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from cwsync.integrations.devices.models import Device
from cwsync.integrations.devices.table import link_devices
from cwsync.store import Reads, Store, Tx
from cwsync.store.changes_tables import CHANGE_EVENTS, CHANGES
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import ChangeData, ChangeRecord

__all__ = ["ChangeStore", "StoredEvent", "journal_scope"]

Within = Callable[[Tx], Awaitable[None]]
"""More writes to commit with a begun or finished event (its run, its journal, its run's items)."""


# Statements built once (issue 19: an event runs each of them once; building one costs several times running it).
_CHANGE = select(CHANGES).where(CHANGES.c.tenant == bindparam("tenant"), CHANGES.c.change_id == bindparam("change_id"))
_EVENT_KEY = (  # (not named after columns: an UPDATE keeps those names for its SET clause)
    CHANGE_EVENTS.c.tenant == bindparam("key_tenant"),
    CHANGE_EVENTS.c.change_id == bindparam("key_change_id"),
    CHANGE_EVENTS.c.event_id == bindparam("key_event_id"),
)
_EVENT = select(CHANGE_EVENTS).where(*_EVENT_KEY)
_EVENT_COLUMNS = ("event_id", "kind", "status", "payload_hash", "result", "error", "created_at", "finished_at")
_CHANGE_AND_EVENT = (  # a change and one of its events in one statement (the event's columns as `event_<name>`)
    select(CHANGES, *(CHANGE_EVENTS.c[name].label(f"event_{name}") for name in _EVENT_COLUMNS))
    .select_from(
        CHANGES.outerjoin(
            CHANGE_EVENTS,
            and_(
                CHANGE_EVENTS.c.tenant == CHANGES.c.tenant,
                CHANGE_EVENTS.c.change_id == CHANGES.c.change_id,
                CHANGE_EVENTS.c.event_id == bindparam("event_id"),
            ),
        )
    )
    .where(CHANGES.c.tenant == bindparam("tenant"), CHANGES.c.change_id == bindparam("change_id"))
)
_BEGIN = insert(CHANGE_EVENTS)
_FAIL = update(CHANGE_EVENTS).where(*_EVENT_KEY).values(error=bindparam("new_error", type_=CHANGE_EVENTS.c.error.type))
_APPLIED = (
    update(CHANGE_EVENTS)
    .where(*_EVENT_KEY)
    .values(
        status="applied",
        result=bindparam("new_result", type_=CHANGE_EVENTS.c.result.type),
        error=None,
        finished_at=bindparam("new_finished_at", type_=CHANGE_EVENTS.c.finished_at.type),
    )
)
_FINISH = (
    update(CHANGES)
    .where(
        CHANGES.c.tenant == bindparam("key_tenant"),
        CHANGES.c.change_id == bindparam("key_change_id"),
        CHANGES.c.version == bindparam("expected_version"),
    )
    .values(
        state=bindparam("new_state", type_=CHANGES.c.state.type),
        board=bindparam("new_board", type_=CHANGES.c.board.type),
        data=bindparam("new_data", type_=CHANGES.c.data.type),
        version=bindparam("new_version", type_=CHANGES.c.version.type),
        updated_at=bindparam("new_updated_at", type_=CHANGES.c.updated_at.type),
    )
)


def journal_scope(change_id: str) -> str:
    """The journal scope of a change's events (the key is the event id)."""
    return f"changes:{change_id}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A processed (or half-processed) event."""

    event_id: str
    kind: str
    status: str
    payload_hash: str
    result: Any | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ChangeStore:
    """The `changes` and `change_events` tables of one tenant."""

    def __init__(self, store: Store, *, tenant: str) -> None:
        self._store = store
        self.tenant = tenant

    async def get(self, change_id: str) -> ChangeRecord | None:
        """The change, or None if it was never linked."""
        return await self._store.read(lambda reads: self._change_in(reads, change_id))

    async def lookup(self, change_id: str, event_id: str) -> tuple[StoredEvent | None, ChangeRecord | None]:
        """An event of a change (if it was ever begun) and the change (if linked), in one store read: one statement
        for a linked change (an event of it joined), a second for the event when the change is not linked (yet:
        its `created` event may be under way)."""

        async def both(reads: Reads) -> tuple[StoredEvent | None, ChangeRecord | None]:
            params = {"tenant": self.tenant, "change_id": change_id, "event_id": event_id}
            row = (await reads.connection.execute(_CHANGE_AND_EVENT, params)).first()
            if row is None:
                return await self._event_in(reads, change_id, event_id), None
            event = None if row.event_event_id is None else _event_of(row, prefix="event_")
            return event, _change_of(row)

        return await self._store.read(both)

    async def _change_in(self, reads: Reads, change_id: str) -> ChangeRecord | None:
        params = {"tenant": self.tenant, "change_id": change_id}
        row = (await reads.connection.execute(_CHANGE, params)).first()
        return None if row is None else _change_of(row)

    async def event(self, change_id: str, event_id: str) -> StoredEvent | None:
        """One event of a change, if it was ever begun."""
        return await self._store.read(lambda reads: self._event_in(reads, change_id, event_id))

    async def _event_in(self, reads: Reads, change_id: str, event_id: str) -> StoredEvent | None:
        row = (await reads.connection.execute(_EVENT, self._event_params(change_id, event_id))).first()
        return None if row is None else _event_of(row)

    async def events(self, change_id: str) -> list[StoredEvent]:
        """Every event of a change, oldest first."""
        statement = (
            select(CHANGE_EVENTS)
            .where(CHANGE_EVENTS.c.tenant == self.tenant, CHANGE_EVENTS.c.change_id == change_id)
            .order_by(CHANGE_EVENTS.c.id)
        )
        async with self._store._connect() as conn:
            return [_event_of(row) for row in (await conn.execute(statement)).all()]

    async def begin_event(
        self, change_id: str, event_id: str, *, kind: str, payload_hash: str, within: Within | None = None
    ) -> bool:
        """Record that an event starts applying; False when a row for it exists already (another delivery).

        `within` writes more in the same transaction (the event's run started).
        """
        values: dict[str, Any] = {
            "tenant": self.tenant,
            "change_id": change_id,
            "event_id": event_id,
            "kind": kind,
            "payload_hash": payload_hash,
            "status": "applying",
            "journal": {},  # unused since the store's journal holds the steps (migration 0005)
            "result": None,
            "error": None,
            "created_at": _now(),
            "finished_at": None,
        }

        async def begin(tx: Tx) -> None:
            await tx.connection.execute(_BEGIN, values)
            if within is not None:
                await within(tx)

        try:
            await self._store.write(begin)
        except IntegrityError:
            return False
        return True

    async def done_steps(self, change_id: str, event_id: str) -> dict[str, int | None]:
        """The writes of an event journaled as done, with their record ids (empty once the event is finished)."""
        scope = journal_scope(change_id)
        entries = await self._store.read(lambda reads: reads.journal(self.tenant, scope, [event_id]))
        return {e.step: None if e.record_id is None else int(e.record_id) for e in entries if e.status == "done"}

    async def fail_event(self, change_id: str, event_id: str, error: str) -> None:
        """Note why an applying event stopped (it stays `applying`: the next delivery resumes it)."""
        params = self._event_params(change_id, event_id) | {"new_error": error[:4000]}

        async def note(tx: Tx) -> None:
            await tx.connection.execute(_FAIL, params)

        await self._store.write(note)

    async def finish_link(
        self,
        record: ChangeRecord,
        *,
        event_id: str,
        result: Any,
        devices: Sequence[Device] = (),
        within: Within | None = None,
        journal: bool = True,
    ) -> None:
        """Create the change row, link the devices it mentions and mark its `created` event applied, together.

        `journal=False`: the event's journal holds nothing (its step runner read and wrote no entry), so it is not
        cleared (one statement fewer).

        Raises:
            ChangeRefused: `already_linked`, when the change was linked meanwhile by another event.
        """
        now = _now()
        values: dict[str, Any] = {
            "tenant": self.tenant,
            "change_id": record.change_id,
            "company": record.company,
            "cw_company_id": record.cw_company_id,
            "ticket_id": record.ticket_id,
            "board": record.board,
            "state": record.state,
            "version": 1,
            "data": record.data.model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }

        async def link(tx: Tx) -> None:
            await tx.connection.execute(CHANGES.insert().values(values))
            await link_devices(tx.connection, self.tenant, record.change_id, event_id, devices)
            await self._applied(tx, record.change_id, event_id, result, now, within, journal)

        try:
            await self._store.write(link)
        except IntegrityError as exc:
            raise ChangeRefused("already_linked", f"change {record.change_id} was linked meanwhile") from exc

    async def finish_event(
        self,
        record: ChangeRecord,
        *,
        expected_version: int,
        event_id: str,
        result: Any,
        devices: Sequence[Device] = (),
        within: Within | None = None,
        journal: bool = True,
    ) -> None:
        """Store the change's new state, the devices the event mentions and the event's result, together
        (`journal` as in `finish_link`).

        Raises:
            ChangeRefused: `busy`, when another event of the change was applied meanwhile (nothing is stored).
        """
        now = _now()
        params = {
            "key_tenant": self.tenant,
            "key_change_id": record.change_id,
            "expected_version": expected_version,
            "new_state": record.state,
            "new_board": record.board,
            "new_data": record.data.model_dump(mode="json"),
            "new_version": expected_version + 1,
            "new_updated_at": now,
        }

        async def finish(tx: Tx) -> None:
            if (await tx.connection.execute(_FINISH, params)).rowcount != 1:
                raise ChangeRefused("busy", f"another event of change {record.change_id} was applied meanwhile")
            await link_devices(tx.connection, self.tenant, record.change_id, event_id, devices)
            await self._applied(tx, record.change_id, event_id, result, now, within, journal)

        await self._store.write(finish)

    async def _applied(
        self,
        tx: Tx,
        change_id: str,
        event_id: str,
        result: Any,
        now: datetime,
        within: Within | None,
        journal: bool,
    ) -> None:
        params = self._event_params(change_id, event_id) | {"new_result": result, "new_finished_at": now}
        await tx.connection.execute(_APPLIED, params)
        if journal:
            await tx.clear_journal(self.tenant, journal_scope(change_id), [event_id])
        if within is not None:
            await within(tx)

    def _event_params(self, change_id: str, event_id: str) -> dict[str, Any]:
        return {"key_tenant": self.tenant, "key_change_id": change_id, "key_event_id": event_id}


def _change_of(row: Any) -> ChangeRecord:
    return ChangeRecord(
        change_id=row.change_id,
        company=row.company,
        cw_company_id=row.cw_company_id,
        ticket_id=row.ticket_id,
        board=row.board,
        state=row.state,
        version=row.version,
        data=ChangeData.model_validate(row.data),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _event_of(row: Any, *, prefix: str = "") -> StoredEvent:
    """The event of a `change_events` row, or of the `event_<name>` columns of a joined one (`prefix`)."""
    values = row._mapping
    return StoredEvent(**{name: values[prefix + name] for name in _EVENT_COLUMNS})
