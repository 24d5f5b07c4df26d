"""What a run reports, for both loops: per pair its counts, what it read and called, and the decisions it kept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cwsync.config.vocabulary import Action
from cwsync.core.plan import PlanItem
from cwsync.engine.pair import KEPT_ITEMS
from cwsync.store import Counts

__all__ = ["KEPT_ITEMS", "PairReport", "RunReport"]

T = TypeVar("T")


@dataclass
class PairReport(Generic[T]):
    """What happened to one pair in a run.

    A pair keeps its first `KEPT_ITEMS` decisions other than "unchanged" and counts the rest in `items_omitted`
    (a dry run of a two-way pair keeps every planned item: it is what `cwsync plan` shows): every decision is in the
    store's run items (`cwsync history`, `cwsync explain`), and a first sync of 60,000 records held in memory made
    the garbage collector's full passes take hundreds of milliseconds each. The one-way loop keeps JSON entries
    (`action`, `connectwise_id`, `target_id`, `reason`), the two-way loop `core.plan.PlanItem`s.
    """

    pair: str
    counts: Counts = field(default_factory=Counts)
    items: list[T] = field(default_factory=list)
    items_omitted: int = 0
    read: int = 0
    """Records read from ConnectWise for this pair (one-way)."""
    calls: int = 0
    """Requests the target made for this pair (one-way)."""

    def keep(self, item: T) -> None:
        """Keep one decision other than unchanged, within the limit."""
        if len(self.items) < KEPT_ITEMS:
            self.items.append(item)
        else:
            self.items_omitted += 1


def keep_planned(report: PairReport[PlanItem], items: Iterable[PlanItem], *, everything: bool) -> None:
    """Keep a two-way pair's planned `items`: all of them (a dry run), or those other than unchanged, within the
    limit."""
    if everything:
        report.items.extend(items)
        return
    for item in items:
        if item.action is not Action.UNCHANGED:
            report.keep(item)


@dataclass
class RunReport(Generic[T]):
    """The outcome of a run (or a dry run); `as_json` for the CLI and the API (of JSON items: one-way pairs)."""

    run_id: int | None
    dry_run: bool
    pairs: list[PairReport[T]] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    """Stopped at a page boundary on request (`cwsync runs cancel`): the run is recorded as cancelled."""

    @property
    def counts(self) -> Counts:
        """Counts over every pair."""
        return Counts.sum(pair.counts for pair in self.pairs)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "error": self.error,
            "cancelled": self.cancelled,
            "counts": self.counts.as_dict(),
            "pairs": {
                p.pair: {
                    "read": p.read,
                    "calls": p.calls,
                    "counts": p.counts.as_dict(),
                    "items": p.items,
                    "items_omitted": p.items_omitted,
                }
                for p in self.pairs
            },
        }
