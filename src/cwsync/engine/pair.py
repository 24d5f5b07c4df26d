"""The engine's contract: a `Pair` is a source, a target and a mapping; integrations fill in small adapters.

::

    pair = Pair(
        name="mirror:companies",
        mapping=mapping,                        # core.mapping.ObjectMapping, one way (ConnectWise → target)
        source=ConnectWiseSource(cw, "company/companies", fields=...),
        target=SqlTableTarget(store, table),
        flatten=lambda raw: flat,               # nested record → flat fields the mapping names
        batch=500, in_flight=1, on_delete="delete",
    )
    report = await Engine(store, tenant).run([pair], full=False)

What the engine gives every pair (`engine.Engine`): the run's lifecycle, read-ahead, the page loop, planning through
`core.plan`, links and run items, intents before creates and look-up of what a killed run created, batching and the
in-flight cap, record-level failures apart from fatal ones, the cursor capped by the run's start, deletions on full
runs behind the mass-delete guard, and replay of chosen ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cwsync.core.mapping import ObjectMapping

__all__ = ["Pair", "Raw", "Source", "Target", "Write", "WriteResult"]

Raw = dict[str, Any]


class Source(Protocol):
    """Where records come from (ConnectWise)."""

    def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of records changed since `since` (every record when None)."""
        ...

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        """The records with these ids that exist (a missing id was deleted)."""
        ...

    def updated_at(self, raw: Raw) -> datetime | None:
        """When the record last changed (what the cursor follows)."""
        ...


@dataclass(frozen=True, slots=True)
class Write:
    """One write for the target: create (no `right_id`), update or delete, with the projected values."""

    action: Literal["create", "update", "delete"]
    left_id: str
    right_id: str | None
    values: Mapping[str, str | None]
    raw: Raw = field(default_factory=dict)


@dataclass(slots=True)
class WriteResult:
    """What became of a write: the target's id, or the record-level error that stopped it."""

    write: Write
    right_id: str | None = None
    error: Exception | None = None


class Target(Protocol):
    """Where records go (a HubSpot object, Hudu assets, SQL tables, ...)."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """For creates an earlier attempt may have made (its answer lost, or the process killed): left id → the
        target's id of the record that attempt made, for the ones found."""
        ...

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Carry out a batch; a record-level failure is returned in its result, a fatal error is raised."""
        ...


@dataclass(frozen=True)
class Pair:
    """One object flowing from a source to a target, with what the engine needs to run it."""

    name: str
    mapping: ObjectMapping
    source: Source
    target: Target
    flatten: Callable[[Raw], Mapping[str, Any]]
    skip: Callable[[Mapping[str, Any]], str | None] = lambda _flat: None
    """Why a record is left out (filters, inactive, ...), from its flat form; None: it syncs."""
    batch: int = 100
    in_flight: int = 1
    on_delete: Literal["ignore", "delete"] = "ignore"
    mass_delete_share: float = 0.9
    mass_delete_setting: str = "mass_delete_share"
    overlap: timedelta = timedelta(seconds=5)
    """An incremental read starts this long before the cursor (clock skew between ConnectWise's servers)."""
    yield_every: int = 100
