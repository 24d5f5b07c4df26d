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

Hooks beyond the mapping, all optional: `project` (the flat record's projection, when the integration computes
it), `skip` (a record left alone, linked or not), `retire` (a record whose
counterpart must go: deleted if linked, else skipped with the reason), `notes` (added to a record's reasons),
`prepare` (once per run before the pair's writes, inside the run: custom properties, ...), and `tombstone` (a
deleted counterpart keeps its link, marked, instead of losing it: a target that archives rather than deletes),
`stored` (links an earlier version recorded, in today's form), `lost` (a link whose counterpart the integration
found gone: the record is created again), `frozen` (fields written on create only, unless the integration says
otherwise), `moves` (fields whose change re-creates the counterpart), `pinned` (fields a link keeps), `placed`
(the projection of a pinned link's record), `adopt` (creates matched to counterparts that exist already) and
`scope` (what the cursor is valid for). A target that holds the links itself (a table keyed by the ConnectWise id)
gives them as `links`; one whose creates are upserts by that id sets `upserts` (no intents needed).

What the engine gives every pair (`engine.Engine`): the run's lifecycle, read-ahead, the page loop, planning through
`core.plan`, links and run items, intents before creates and look-up of what a killed run created, batching and the
in-flight cap, record-level failures apart from fatal ones, the cursor capped by the run's start, deletions on full
runs behind the mass-delete guard, and replay of chosen ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cwsync.config.vocabulary import DeletePolicy
from cwsync.core.mapping import ObjectMapping
from cwsync.store import Link

YIELD_EVERY = 100
"""Long loops over a page's records hand the event loop back this often (every few milliseconds): a page takes
a few hundred milliseconds of CPU, and a rate limiter's slot or an answer due meanwhile would otherwise wait for all
of it (measured on the first HubSpot sync: the pacer's slots ran late, and what a slot misses is not made up)."""
KEPT_ITEMS = 1_000
"""Decisions other than "unchanged" a run's report keeps in memory per pair; every one is in the store's run items
(`cwsync history`, `cwsync explain`), and 60,000 of them held in memory made the collector's full passes slow."""

__all__ = ["Flow", "Links", "Pair", "Raw", "Source", "Target", "Write", "WriteResult"]


@dataclass(frozen=True, slots=True)
class Flow:
    """How a run moves writes: what a two-way runner (HubSpot) is tuned with, beside a `Pair`'s own `batch`,
    `in_flight` and `yield_every`.

    `batch` inputs per target call; `hold` planned items held back at most, waiting to fill whole batches (a page's
    remainder waits for the next page's instead of going out as a partial batch); `applying` batches of writes in
    the background at once while the next page is read and planned (two: one batch's last round trips overlap the
    next one's first, so a rate limiter always has a request waiting); `page` records per page of the second side's
    leftovers; `yield_every` records a long loop handles before it hands the event loop back.
    """

    batch: int = 100
    hold: int = 2_000
    applying: int = 2
    page: int = 200
    yield_every: int = 100


Raw = dict[str, Any]


class Source(Protocol):
    """Where records come from (ConnectWise).

    Optional beyond these: `count_changed(since) -> int` (how many records `changed(since)` reads: progress
    totals), `newest(page) -> datetime | None` (the newest `updated_at` of a page, found at once) and
    `confirm(ids) -> set[str]` (which of these ids the source still has, whatever the scope of its
    reads: a source whose full read is scoped — Hudu assets are read for the companies in the run — says so, and a
    linked record the full read did not return but the source still has is out of scope, not deleted). Without
    `confirm` the engine confirms with `get_many`.
    """

    def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        """Pages of records changed since `since` (every record when None)."""
        ...

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        """The records with these ids that exist (a missing id was deleted)."""
        ...

    def updated_at(self, raw: Raw) -> datetime | None:
        """When the record last changed (what the cursor follows)."""
        ...


@dataclass(slots=True)
class Write:
    """One write for the target: create (no `right_id`), update or delete, with the projected values.

    Not frozen, but never changed once made (a decision that changes gets a new one): a first sync makes one per
    record, and a frozen dataclass's `__init__` is a call of `object.__setattr__` per field."""

    action: Literal["create", "update", "delete"]
    left_id: str
    right_id: str | None
    values: Mapping[str, str | None]
    raw: Raw = field(default_factory=dict)
    previous: Mapping[str, Any] = field(default_factory=dict)
    """What the link holds (the values last written) for an update, a delete or a re-create; {} when unknown (an
    update of what an earlier attempt created: every value is written)."""
    replaces: str | None = None
    """A create that replaces this counterpart (a `Pair.moves` field changed): the target deletes (archives) it once
    the new one exists."""


@dataclass(slots=True)
class WriteResult:
    """What became of a write: the target's id, or the record-level error that stopped it."""

    write: Write
    right_id: str | None = None
    error: Exception | None = None
    right_values: Mapping[str, Any] | None = None
    """What the link keeps of the counterpart beyond the projection (its URL, ...): the pair's `stored` hook keeps
    such values out of planning."""


class Target(Protocol):
    """Where records go (a HubSpot object, Hudu assets, SQL tables, ...)."""

    calls: int
    """Requests (or transactions) the target has made, for reports."""

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        """For creates an earlier attempt may have made (its answer lost, or the process killed): left id → the
        target's id of the record that attempt made, for the ones found."""
        ...

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Carry out a batch; a record-level failure is returned in its result, a fatal error is raised."""
        ...


class Links(Protocol):
    """Where a pair's links are when its target holds them: the target's rows, keyed by the ConnectWise id, are the
    links (what was written is what the row holds), so the engine writes none to the store's links table."""

    async def by_left(self, ids: Sequence[str]) -> dict[str, Link]:
        """The links of these ConnectWise ids that exist."""
        ...

    async def count(self) -> int:
        """How many links there are: every one `by_left` can give (a full read that found as many of them as there
        are missed none, and is not compared with `ids`)."""
        ...

    def ids(self) -> AsyncIterator[list[tuple[str, str]]]:
        """Every link as (left id, right id), in batches."""
        ...

    # Optional: `async mark(ids: Sequence[str]) -> None`, keep these links marked as deleted in ConnectWise
    # (`on_delete: ignore`), so that `by_left` gives them with the `oneway.DELETED` key (the device table's
    # `deleted` column); a later write of the record clears the mark.


@dataclass(frozen=True)
class Pair:
    """One object flowing from a source to a target, with what the engine needs to run it."""

    name: str
    mapping: ObjectMapping
    source: Source
    target: Target
    flatten: Callable[[Raw], Mapping[str, Any]]
    project: Callable[[Mapping[str, Any]], Mapping[str, str | None]] | None = None
    """The projection of a flat record when the integration computes canonical values itself (no empty text:
    None), keyed by the mapping's names; None: `mapping.project_left`."""
    skip: Callable[[Mapping[str, Any]], str | None] = lambda _flat: None
    """Why a record is left alone (filters, ...), from its flat form, linked or not; None: it syncs."""
    retire: Callable[[Mapping[str, Any]], str | None] = lambda _flat: None
    """Why a record's counterpart must go (inactive, filtered out, ...): deleted when linked, else the record is
    skipped with this reason; None: it syncs."""
    notes: Callable[[Mapping[str, Any]], Sequence[str]] = lambda _flat: ()
    """Remarks on a record (defaults used, values left out), added to the reason of whatever is decided for it."""
    prepare: Callable[[bool], Awaitable[None]] | None = None
    """Called with `dry_run` when the pair starts, inside the run and while its first page is read."""
    batch: int = 100
    in_flight: int = 1
    on_delete: DeletePolicy = "ignore"
    """What a record deleted in ConnectWise (not found on replay or after a full read) does to its counterpart, behind
    the mass-delete guard (`engine.Engine`): `archive` and `delete` send the target's delete write (what it does:
    Hudu and HubSpot archive, a table deletes; the link is dropped, or kept as a `tombstone`); `flag` sends an update
    of the `flag` values and keeps the link marked; `ignore` keeps the link marked and writes nothing; `unlink`
    drops the link and writes nothing. A marked link is no longer reconciled; its record, should it come back, is
    written in full again (the flag cleared). The integration's configuration offers only what the pair honours."""
    flag: Mapping[str, str | None] | None = None
    """The values an `on_delete: flag` writes on the counterpart (None: the target has no place to mark it)."""
    reconcile: bool = True
    """A full read looks for deletions: linked records it did not return, confirmed gone by id (`Source.confirm`,
    else `get_many`; one still there is out of scope and kept); False: only a replay finds them."""
    tombstone: Mapping[str, Any] | None = None
    """Values a link keeps, over its last ones, once its counterpart is deleted, instead of the link being dropped:
    such a link counts as unlinked (the record is created again if it comes back) and is not deleted twice."""
    target_label: str = "the target"
    deleted_as: str = "deleted"
    """How reasons name the target and what a delete does there (`HubSpot`, `archived`)."""
    mass_delete_share: float = 0.9
    mass_delete_setting: str = "mass_delete_share"
    overlap: timedelta = timedelta(seconds=5)
    """An incremental read starts this long before the cursor (clock skew between ConnectWise's servers)."""
    yield_every: int = YIELD_EVERY
    stored: Callable[[Link], Link] | None = None
    """A stored link in the form the pair plans against (links an earlier version recorded in another form)."""
    lost: Callable[[Link], str | None] = lambda _link: None
    """Why a linked record's counterpart is gone (deleted in the target, as the integration found before the run):
    the link counts as none and the record is created again, the reason prefixed with this; None: it is there."""
    frozen: Mapping[str, str] = field(default_factory=dict)
    """Fields written on create and then kept as the link holds them (field → why a change is not written): a
    linked record whose only change is in them is skipped with that reason."""
    moves: frozenset[str] = frozenset()
    """Fields whose change re-creates the counterpart (a create replacing the old one, noted as an intent first)
    instead of updating it."""
    pinned: Callable[[Link], Collection[str]] = lambda _link: ()
    """Fields a link keeps whatever the record says (a counterpart someone else placed, matched on a key): planned
    with the link's values, and such a link is updated in place, never re-created (`moves`)."""
    placed: Callable[[Mapping[str, Any], Link], Mapping[str, str | None]] | None = None
    """The projection of a record whose link `pinned` fields (its counterpart stays where someone else placed it:
    projected as that place wants, e.g. with the labels of the layout the asset is in); None: `project`."""
    adopt: Callable[[Sequence[Any]], Awaitable[None]] | None = None
    """Called with the creates of a page (engine `Decision`s of records no link holds), before their intents are
    noted: it may turn some, in place, into `link` decisions of a counterpart that already exists (a match on a key
    the target holds), with an `update` write whose `previous` are the counterpart's current values."""
    links: Links | None = None
    """The links when the target holds them (`Links`); None: the store's links table."""
    upserts: bool = False
    """The target's creates are upserts keyed by the ConnectWise id (a create sent twice makes one record): no intents
    are noted before them and nothing is looked up after a killed run."""
    scope: str | None = None
    """A digest of what decides the pair's records: the cursor is kept with it, and one kept with another scope is
    not used (the next read is a full one). None: the cursor is a plain timestamp."""
