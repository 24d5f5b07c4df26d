"""What a run's report keeps in memory: everything for a plan, a sync's first items and a count of the rest."""

from __future__ import annotations

import pytest

from cwsync.config.vocabulary import Action
from cwsync.core.plan import PlanItem
from cwsync.engine import report as reports
from cwsync.engine.report import PairReport, keep_planned


def items(action: Action, count: int) -> list[PlanItem]:
    return [PlanItem("contacts", action, str(n), None, "why") for n in range(count)]


def test_a_plan_keeps_every_item() -> None:
    report = PairReport[PlanItem]("contacts")
    keep_planned(report, [*items(Action.CREATE, 5), *items(Action.UNCHANGED, 5)], everything=True)
    assert (len(report.items), report.items_omitted) == (10, 0)


def test_a_sync_keeps_its_first_items_but_no_unchanged_ones_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports, "KEPT_ITEMS", 4)
    report = PairReport[PlanItem]("contacts")
    keep_planned(report, [*items(Action.UNCHANGED, 50), *items(Action.CREATE, 3)], everything=False)
    keep_planned(report, items(Action.UPDATE, 3), everything=False)
    assert [item.action for item in report.items] == [Action.CREATE] * 3 + [Action.UPDATE]
    assert report.items_omitted == 2
