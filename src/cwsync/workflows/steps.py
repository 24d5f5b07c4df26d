"""One journaled step runner for the workflows that write ConnectWise records (quotes, change events).

A workflow turns its input into `Step`s: a key (`opportunity`, `line:3`, `note`), a kind (create, update, delete),
the ConnectWise path and body, and for a create a `find` that looks the record up (by a marker or natural key the
body carries). A `StepRunner` applies them against the store's journal (`Store.journal`, migration 0005), one scope
and key per unit of work (`quotes` / the external quote id, `changes:<change id>` / the event id)::

    runner = await StepRunner.load(cw, store, tenant=t, scope="quotes", key="Q-1001")
    [opportunity] = await runner.run_all([Step("opportunity", "create", "sales/opportunities", body, find=find)])
    lines = await runner.run_all(line_steps, concurrently=True)
    async with store.transaction() as tx:
        await recorder.record_in(tx, links=[...])  # the outcome, as the engine records it
        await runner.clear(tx)                # the journal is not needed any more

The scheme, for every step:

1. an `intent` entry is written before a create or delete is sent (before an update too when the step asks);
2. a create whose intent (or any earlier attempt, `attempted=True`) exists is looked up with `find` first: found
   means the earlier attempt's answer was lost, and its record is taken instead of making a second one;
3. the write is sent; a create whose answer is lost again is looked up once more before the error is raised;
4. a `done` entry with the record's id is written as soon as the step completes (in the same transaction as the
   next step's intent when the steps run one after another), so a failure later loses nothing; with `defer_done`
   the `done` entries wait for the runner's next write, or are dropped by the transaction that records the outcome
   and clears the journal, and a failure writes them at once (fewer small transactions on SQLite's one writer; a
   crash before the outcome commits costs a look-up by rule 2 per create, never a duplicate);
5. a step whose `done` entry exists (with the same `digest`, when the step has one) is not sent again.

The runner's own journal writes can go through the workflow's transactions (`write=run.write`: the run is
recorded started in the first one).

A workflow whose unit of work has a record of its own, committed before any write is sent (a change event's row,
`applying`), needs no intents at all (`intents=False`): that record makes every later run `attempted`, and rule 2
then looks up every create without a `done` entry, which is all an intent would have asked for. Such a runner
writes to the journal only when a step fails (the `done` entries of what finished) or when the workflow asks
(`journaled` says whether it did, or read any entry: when not, the outcome's transaction has no journal to clear).

A re-run after any failure, lost answer or killed process therefore completes the same records, never duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.client import Conditions
from cwsync.connectors.http import AmbiguousWriteError, CwsyncApiError, NotFoundError, ServerError, TransportError
from cwsync.store import JournalEntry, Store, Tx

__all__ = ["Finder", "Outcome", "Step", "StepKind", "StepResult", "StepRunner", "journal_step"]

log = structlog.get_logger("cwsync.workflows")

Record = dict[str, Any]
StepKind = Literal["create", "update", "delete"]
Outcome = Literal["written", "found", "already_done"]
"""`written`: sent now; `found`: an earlier attempt had made it (its answer was lost); `already_done`: journaled."""
Finder = Callable[[], Awaitable[int | None]]
"""Looks a step's record up in ConnectWise: its id, or None when it does not exist."""
Writer = Callable[[Callable[[Tx], Awaitable[None]]], Awaitable[None]]
"""Commits a body's writes in one transaction (`Store.write`, or a workflow run's `write`, which records the run
started in the first)."""

_STEP_CHARS = 128  # journal.step is String(128)


@dataclass(frozen=True)
class Step:
    """One write of a workflow.

    Args:
        key: unique within the unit of work (`opportunity`, `line:3`, `resource:alice@msp.example`).
        kind: `create` (POST `path`), `update` (PATCH `path/record_id` with `body` as operations, or PUT with
            `method="PUT"`), `delete` (DELETE `path/record_id`).
        find: for a create, how to look the record up; without one, a create after an earlier attempt is sent
            again (only safe where a duplicate cannot happen).
        match: for a create, conditions the client uses to resolve a POST whose answer it lost itself.
        digest: what the step writes; a `done` entry of the same key is reused only when its digest is the same.
        data: kept with the `done` entry (e.g. a line's hash), for the workflow to read back.
        record_id: for an update or delete, the record's id.
        id_of: the record id in the create's (or update's) answer (default: its `id`).
        intent: journal an intent before the write (default: for creates and deletes; an update is safe to send
            again, so it needs one only when the workflow reads the journal back, as the quote workflow does); a
            runner built with `intents=False` journals none.
    """

    key: str
    kind: StepKind
    path: str
    body: Any = None
    record_id: int | None = None
    find: Finder | None = None
    match: Conditions | None = None
    method: Literal["PATCH", "PUT"] = "PATCH"
    digest: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    id_of: Callable[[Record], int | None] | None = None
    intent: bool | None = None

    @property
    def wants_intent(self) -> bool:
        """Whether an intent is journaled before the write."""
        return self.kind != "update" if self.intent is None else self.intent


@dataclass(frozen=True)
class StepResult:
    """How a step ended: its record's id (a delete's: the record it removed), whether it was written now, and
    ConnectWise's answer when it was (a PATCH's is the record as it is after it: a workflow may read it there)."""

    key: str
    record_id: int | None
    outcome: Outcome
    data: Mapping[str, Any] = field(default_factory=dict)
    answer: Record | None = None


def journal_step(key: str) -> str:
    """The journal's `step` for a step key (a key too long for the column keeps its start and a hash)."""
    if len(key) <= _STEP_CHARS:
        return key
    return f"{key[: _STEP_CHARS - 33]}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class StepRunner:
    """Runs the steps of one unit of work (`scope`, `key`) against the journal; get one with `load`."""

    def __init__(
        self,
        client: ConnectWiseClient,
        store: Store,
        *,
        tenant: str,
        scope: str,
        key: str,
        entries: Sequence[JournalEntry] = (),
        attempted: bool = False,
        write: Writer | None = None,
        intents: bool = True,
    ) -> None:
        self.client, self.store = client, store
        self._intents = intents
        self._commit: Writer = write or store.write
        self.tenant, self.scope, self.key = tenant, scope, key
        self.entries: dict[str, JournalEntry] = {e.step: e for e in entries}
        self._earlier = dict(self.entries)  # what attempts before this runner left
        self.attempted = attempted
        self.failed_step: str | None = None
        """The key of the step that raised, after `run_all` failed."""
        self._carry: list[JournalEntry] = []
        self._wrote = False

    @classmethod
    async def load(
        cls,
        client: ConnectWiseClient,
        store: Store,
        *,
        tenant: str,
        scope: str,
        key: str,
        attempted: bool = False,
        write: Writer | None = None,
        intents: bool = True,
    ) -> StepRunner:
        """A runner with the journal of (`scope`, `key`) read: what an earlier attempt intended and finished."""
        entries = await store.read(lambda reads: reads.journal(tenant, scope, [key]))
        return cls(
            client,
            store,
            tenant=tenant,
            scope=scope,
            key=key,
            entries=entries,
            attempted=attempted,
            write=write,
            intents=intents,
        )

    @property
    def journaled(self) -> bool:
        """Whether the journal of this unit of work may hold entries: read from an earlier attempt, or written (or
        tried: a failed commit may still have committed) by this runner."""
        return bool(self._earlier) or self._wrote

    def entry(self, step_key: str) -> JournalEntry | None:
        """The journal entry of a step (from an earlier attempt, or written by this runner)."""
        return self.entries.get(journal_step(step_key))

    async def run_all(
        self, steps: Sequence[Step], *, concurrently: bool = False, defer_done: bool = False
    ) -> list[StepResult]:
        """Apply the steps (in order, or all at once); each one's `done` is journaled as it completes.

        With `concurrently`, every step runs even when one fails (what finished is journaled), then the first
        failure is raised. With `defer_done`, no `done` entry is written on its own: each goes with the next write
        of this runner (a later step's intent) or is dropped by `clear`, in the transaction that records the
        outcome. Their intents were written before the writes, so a crash in between costs a re-run one look-up
        per such create, never a duplicate; a failure writes them at once.

        Raises:
            CwsyncApiError: a write failed (`failed_step` names it); the journal holds what was done.
        """
        if not concurrently:
            results: list[StepResult] = []
            for index, step in enumerate(steps):
                following = steps[index + 1] if index + 1 < len(steps) else None
                carry = defer_done or (following is not None and self._needs_intent(following))
                results.append(await self._guarded(step, carry=carry))
            if not defer_done:
                await self.flush()
            return results
        await self._write([self._intent(s) for s in steps if self._needs_intent(s)])
        outcomes = await asyncio.gather(
            *(self._guarded(s, carry=defer_done, intent=False) for s in steps), return_exceptions=True
        )
        for step, outcome in zip(steps, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self.failed_step = step.key
                await self._flush_quietly()  # the steps that finished after the first failure are journaled too
                raise outcome
        return [o for o in outcomes if isinstance(o, StepResult)]

    async def run_lanes(
        self, steps: Sequence[Step], lane_of: Callable[[Step], str], *, defer_done: bool = False
    ) -> list[StepResult]:
        """Apply the steps in lanes that run at once, each lane in order (`lane_of` names a step's lane); the
        results in the order of `steps`.

        For writes that do not depend on each other (a ticket's status beside its notes): one round trip per step
        of the longest lane instead of one per step. The intents of all the steps are journaled before any is sent
        (in one transaction), so every create is still looked up before it is sent again. A lane stops at its first
        failure, as `run_all` does; the other lanes run to their end (what finished is journaled), then the failure
        of the first lane (in the order of `steps`) is raised, its step in `failed_step`. `defer_done` as in
        `run_all`.

        Raises:
            CwsyncApiError: a write failed; the journal holds what was done.
        """
        lanes: dict[str, list[int]] = {}
        for index, step in enumerate(steps):
            lanes.setdefault(lane_of(step), []).append(index)
        if len(lanes) <= 1:
            return await self.run_all(steps, defer_done=defer_done)
        await self._write([self._intent(s) for s in steps if self._needs_intent(s)])
        results: dict[int, StepResult] = {}
        failures: dict[int, BaseException] = {}

        async def lane(indexes: list[int]) -> None:
            for index in indexes:
                try:
                    results[index] = await self._run(steps[index], carry=True, intent=False)
                except BaseException as exc:
                    failures[index] = exc
                    return

        await asyncio.gather(*(lane(indexes) for indexes in lanes.values()))
        if failures:
            first = min(failures)
            self.failed_step = steps[first].key
            await self._flush_quietly()  # what the lanes finished is journaled
            raise failures[first]
        if not defer_done:
            await self.flush()
        return [results[index] for index in range(len(steps))]

    async def flush(self) -> None:
        """Write `done` entries held back to share a transaction with the next intent."""
        await self._write([])

    async def clear(self, tx: Tx) -> None:
        """Remove the journal of this unit of work (and the deferred `done` entries), inside the transaction that
        records its outcome."""
        await tx.clear_journal(self.tenant, self.scope, [self.key])
        self.drop_deferred()

    def drop_deferred(self) -> None:
        """Forget the `done` entries held back (the caller cleared this unit's journal in its own transaction)."""
        self._carry = []

    # -- one step -------------------------------------------------------------------------------------------------

    def _reusable(self, step: Step) -> JournalEntry | None:
        entry = self.entry(step.key)
        if entry is None or entry.status != "done" or entry.data.get("kind") != step.kind:
            return None
        return entry if step.digest is None or entry.data.get("digest") == step.digest else None

    def _needs_intent(self, step: Step) -> bool:
        if not self._intents:
            return False
        return step.wants_intent and self._reusable(step) is None

    def _intent(self, step: Step) -> JournalEntry:
        data = {"kind": step.kind, "digest": step.digest, **step.data}
        record_id = None if step.record_id is None else str(step.record_id)
        return self._entry(step, "intent", record_id, data)

    def _entry(self, step: Step, status: Literal["intent", "done"], record_id: str | None, data: Any) -> JournalEntry:
        entry = JournalEntry(
            tenant=self.tenant,
            scope=self.scope,
            key=self.key,
            step=journal_step(step.key),
            status=status,
            record_id=record_id,
            data=dict(data),
        )
        self.entries[entry.step] = entry
        return entry

    async def _guarded(self, step: Step, *, carry: bool, intent: bool = True) -> StepResult:
        try:
            return await self._run(step, carry=carry, intent=intent)
        except BaseException:
            self.failed_step = step.key
            await self._flush_quietly()
            raise

    async def _run(self, step: Step, *, carry: bool, intent: bool) -> StepResult:
        done = self._reusable(step)
        if done is not None:
            record_id = None if done.record_id is None else int(done.record_id)
            return StepResult(step.key, record_id, "already_done", done.data)
        earlier = self._earlier.get(journal_step(step.key))
        # Sent before without a known outcome: an intent left over, or (`attempted`) an attempt of unknown extent.
        retried = (earlier is not None and earlier.status == "intent") or (self.attempted and earlier is None)
        if intent and self._needs_intent(step):
            await self._write([self._intent(step)])
        record_id, outcome, answer = await self._send(step, retried=retried)
        data = {"kind": step.kind, "digest": step.digest, **step.data}
        entry = self._entry(step, "done", None if record_id is None else str(record_id), data)
        if carry:
            self._carry.append(entry)
        else:
            await self._write([entry])
        return StepResult(step.key, record_id, outcome, entry.data, answer)

    async def _send(self, step: Step, *, retried: bool) -> tuple[int | None, Outcome, Record | None]:
        if step.kind == "delete":
            assert step.record_id is not None
            try:
                await self.client.delete(step.path, step.record_id)
            except NotFoundError:
                if not retried:
                    raise
                return step.record_id, "found", None  # an earlier attempt deleted it; its answer was lost
            return step.record_id, "written", None
        if step.kind == "update":
            assert step.record_id is not None
            if step.method == "PUT":
                answer = await self.client.put(step.path, step.record_id, step.body)
            else:
                answer = await self.client.patch(step.path, step.record_id, step.body)
            return self._id_of(step, answer, step.record_id), "written", answer
        if retried and step.find is not None and (found := await step.find()) is not None:
            log.info("workflow.step_found", scope=self.scope, key=self.key, step=step.key, record_id=found)
            return found, "found", None
        try:
            answer = await self.client.create(step.path, step.body, match=step.match)
        except CwsyncApiError as exc:
            if step.find is None or not _ambiguous(exc):
                raise
            if (found := await self._find_quietly(step)) is None:
                raise
            log.info("workflow.step_found", scope=self.scope, key=self.key, step=step.key, record_id=found)
            return found, "found", None
        return self._id_of(step, answer, None), "written", answer

    async def _find_quietly(self, step: Step) -> int | None:
        assert step.find is not None
        try:
            return await step.find()
        except CwsyncApiError:
            return None  # the original error says more; the next attempt looks again

    @staticmethod
    def _id_of(step: Step, answer: Record, default: int | None) -> int | None:
        if step.id_of is not None:
            return step.id_of(answer)
        value = answer.get("id")
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    # -- the journal ----------------------------------------------------------------------------------------------

    async def _write(self, entries: Sequence[JournalEntry]) -> None:
        carried, self._carry = self._carry, []  # steps finishing while this commits carry on into the next write
        batch = [*carried, *entries]
        if not batch:
            return
        self._wrote = True
        try:

            async def journal(tx: Tx) -> None:
                await tx.write_journal(batch)

            await self._commit(journal)
        except BaseException:
            self._carry = [*carried, *self._carry]
            raise

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # the step's own error is the one to raise; the next attempt looks its record up
            log.warning("workflow.journal_failed", scope=self.scope, key=self.key, error=repr(exc))


def _ambiguous(error: CwsyncApiError) -> bool:
    """A failure after which a POST may or may not have been processed."""
    if isinstance(error, AmbiguousWriteError | ServerError):
        return True
    return isinstance(error, TransportError) and error.reached_server
