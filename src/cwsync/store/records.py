"""Plain values the rest of cwsync exchanges with the store (never ORM objects).

JSON-shaped fields (`left_values`, `diff`, `source_values`, ...) hold plain dicts and lists. Datetimes coming out of
the store are always timezone-aware UTC; a `None` timestamp going in means "now".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from cwsync.config.vocabulary import ActionName, Flow, SideName

__all__ = [
    "ITEM_COLUMNS",
    "Action",
    "Counts",
    "Flow",
    "ItemRow",
    "ItemStatus",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "JournalEntry",
    "JournalStatus",
    "LastWriter",
    "Link",
    "NewJob",
    "RunItem",
    "RunKind",
    "RunRecord",
    "RunStatus",
    "Side",
    "Trigger",
]

Side = SideName
LastWriter = Literal["left", "right", "both"]
Action = ActionName
ItemStatus = Literal["planned", "applied", "failed"]
RunKind = Literal["full", "incremental", "record", "plan"]
Trigger = Literal["cli", "schedule", "callback", "webhook", "api"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted", "cancelled"]
JobKind = Literal["incremental", "full", "record", "reconcile"]
JobStatus = Literal["queued", "running", "done", "failed"]
JournalStatus = Literal["intent", "done"]

JsonDict = dict[str, Any]
ItemRow = tuple[Any, ...]
"""A run item as the store writes it: its values in `ITEM_COLUMNS` order (`created_at` left out: the store's now).
A run records one per record decided, so the engine's recorder makes these directly (`Recorder.row`), without a
`RunItem` and a column dictionary in between; `diff` and `source_values` are plain dicts, `diff` mapping a field
to `[old, new]`."""
ITEM_COLUMNS = (
    "run_id",
    "tenant",
    "pair",
    "direction",
    "action",
    "status",
    "left_id",
    "right_id",
    "reason",
    "diff",
    "source_values",
    "remote_status",
    "remote_response",
)
"""The columns of an `ItemRow`, in order (a `RunItem`'s fields of the same names)."""


def _require_aware(**stamps: datetime | None) -> None:
    """Raise `ValueError` for a naive datetime: the store cannot tell which zone it meant."""
    for name, stamp in stamps.items():
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got naive {stamp!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """One linked pair of records: `left_id` on the left side is `right_id` on the right side.

    `left_values` / `right_values` are the mapped projections last synced on each side (the base of a three-way
    merge); the hashes are of those projections, so a side has changed iff its current projection hashes otherwise.
    """

    tenant: str
    pair: str
    left_id: str
    right_id: str
    match_key: str | None = None
    left_values: JsonDict = field(default_factory=dict)
    right_values: JsonDict = field(default_factory=dict)
    left_hash: str = ""
    right_hash: str = ""
    last_writer: LastWriter | None = None
    created_at: datetime | None = None
    synced_at: datetime | None = None
    link_id: int | None = None

    def __post_init__(self) -> None:
        created, synced = self.created_at, self.synced_at  # checked inline: a first sync makes a link per record
        if (created is not None and created.tzinfo is None) or (synced is not None and synced.tzinfo is None):
            _require_aware(created_at=created, synced_at=synced)


# Which counter each planned action bumps.
_COUNTER_OF: dict[str, str] = {
    "create": "created",
    "update": "updated",
    "link": "linked",
    "unchanged": "unchanged",
    "skip": "skipped",
    "fail": "failed",
    "conflict": "conflicts",
    "delete": "deleted",
}


@dataclass(slots=True, kw_only=True)
class Counts:
    """A run's tally of record decisions; mutable so the engine can `add` as it goes.

    `deleted` is an eighth counter beyond the brief's seven, because `delete` is a valid action and folding it into
    another counter would misreport a run.
    """

    created: int = 0
    updated: int = 0
    linked: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    deleted: int = 0

    def add(self, action: Action, n: int = 1) -> None:
        """Count `n` records that got `action`; raises `ValueError` for an unknown action."""
        try:
            name = _COUNTER_OF[action]
        except KeyError:
            raise ValueError(f"unknown action {action!r}; expected one of {sorted(_COUNTER_OF)}") from None
        setattr(self, name, getattr(self, name) + n)

    @property
    def total(self) -> int:
        """Records counted, whatever their action."""
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (how the store keeps them)."""
        return asdict(self)

    @classmethod
    def sum(cls, many: Iterable[Counts]) -> Counts:
        """The counts of several pairs (or data types) added up."""
        total = cls()
        for counts in many:
            for name, value in counts.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
        return total

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Counts:
        """Counts from stored JSON; missing counters are 0 and unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in known})


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run: what it covered, how it was started, how it ended, and its counts."""

    run_id: int
    tenant: str
    pairs: tuple[str, ...]
    kind: RunKind
    trigger: Trigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    counts: Counts
    error: str | None = None
    cancel_requested_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready form (CLI `--json` and the REST API)."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "trigger": self.trigger,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "objects": list(self.pairs),
            "counts": self.counts.as_dict(),
            "error": self.error,
            "cancel_requested_at": self.cancel_requested_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunItem:
    """One record's decision inside a run: action, status, why, the field diff and the remote answer.

    `diff` maps a field to `[old, new]`. `item_id` and `created_at` are set by the store.
    """

    run_id: int
    tenant: str
    pair: str
    direction: Flow
    action: Action
    status: ItemStatus
    left_id: str | None = None
    right_id: str | None = None
    reason: str = ""
    diff: dict[str, list[Any]] = field(default_factory=dict)
    source_values: JsonDict = field(default_factory=dict)
    remote_status: int | None = None
    remote_response: Any = None
    item_id: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(created_at=self.created_at)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready form (`GET /api/runs/{id}`, `cwsync runs show --json`): `hubspot_id` is the other side's
        id, whichever system it is."""
        return {
            "run": self.run_id,
            "at": self.created_at,
            "pair": self.pair,
            "action": self.action,
            "status": self.status,
            "connectwise_id": self.left_id,
            "hubspot_id": self.right_id,
            "reason": self.reason,
            "diff": self.diff,
            "remote_status": self.remote_status,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job to put in the queue; `run_after=None` means "as soon as possible".

    `lock_key`: jobs whose keys conflict never run at once (see `cwsync.store.jobs`). `queueing_key`: at most one
    queued job per key, so a second enqueue while the first still waits is absorbed by it.
    """

    tenant: str
    pair: str
    kind: JobKind
    lock_key: str
    record: str | None = None
    queueing_key: str | None = None
    run_after: datetime | None = None
    payload: JsonDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware(run_after=self.run_after)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """A job as the queue holds it.

    `attempts` counts the attempts that ended without success (failed, or abandoned by a worker that stopped
    heart-beating), so the attempt under way is `attempts + 1`. `worker` and `heartbeat_at` belong to the latest
    claim; `error` is the latest failure's message.
    """

    job_id: int
    tenant: str
    pair: str
    kind: JobKind
    record: str | None
    queueing_key: str | None
    lock_key: str
    status: JobStatus
    attempts: int
    run_after: datetime
    payload: JsonDict
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One step of a record's writes: `intent` before the write is sent, `done` (with the id it made) after.

    `scope` is a pair (`hudu:configurations`) or a workflow (`quotes`); `key` the record it is about (a ConnectWise
    id, an external quote id); `step` what is written (`create`, `opportunity`, `line:3`).
    """

    tenant: str
    scope: str
    key: str
    step: str
    status: JournalStatus = "intent"
    record_id: str | None = None
    data: JsonDict = field(default_factory=dict)
    updated_at: datetime | None = None
