"""Both workflows, one property: sent again any number of times through faults, they make each record once (#13).

The quote (→ one opportunity with exactly its lines) and the change's link and events (→ one of each note,
schedule entry and time entry) are sent until they succeed with lost answers, 429s and 5xx at 20% each on every
ConnectWise call, then sent `AGAIN` more times with the faults still on (each of those may fail, or succeed and
write nothing new). The worlds and the checks are those of `tests/workflows/test_idempotent_workflows.py`
(in-process sandbox with seeded faults, a fresh SQLite store); this adds the sends after success, for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cwsync.connectors.http import CwsyncApiError
from cwsync_sandbox.faults import FaultSettings
from tests.workflows.test_idempotent_workflows import (
    EVENTS,
    FAULTS,
    Changes,
    Quotes,
    changes,
    event,
    link_request,
    quotes,
    until_done,
)

AGAIN = 3
"""Sends after the first success, faults still on."""
__all__ = ["changes", "quotes"]  # the fixtures, imported for this module's tests


@dataclass(frozen=True)
class Workflow:
    """How to send a workflow's inputs, and how to check its records."""

    fixture: str
    sends: Callable[[Any], list[Callable[[], Awaitable[Any]]]]
    check: Callable[[Any, list[Any]], None]


def quote_sends(q: Quotes) -> list[Callable[[], Awaitable[Any]]]:
    return [lambda: q.workflow.submit(q.quote)]


def quote_check(q: Quotes, results: list[Any]) -> None:
    (plan,) = results
    q.assert_one_opportunity_with_its_lines(plan)


def change_sends(c: Changes) -> list[Callable[[], Awaitable[Any]]]:
    link: list[Callable[[], Awaitable[Any]]] = [lambda: c.workflow.link(link_request(c.ticket))]
    return link + [lambda f=fields: c.workflow.apply("CHG-1", event(**f)) for fields in EVENTS]


def change_check(c: Changes, results: list[Any]) -> None:
    c.assert_one_of_each(results)
    assert len(c.entries()) == 4  # alice, bob, carol (vCAB), dan (engineer)
    assert len(c.time_entries()) == 2  # the implementation, and t1


WORKFLOWS = [
    pytest.param(Workflow("quotes", quote_sends, quote_check), id="quote-to-opportunity"),
    pytest.param(Workflow("changes", change_sends, change_check), id="change-events"),
]


@pytest.mark.parametrize("seed", [4, 5, 6])  # seeds where some write loses its answer and some send fails (both)
@pytest.mark.parametrize("workflow", WORKFLOWS)
async def test_sent_again_through_faults_any_number_of_times_one_of_each(
    workflow: Workflow, seed: int, quotes: Quotes, changes: Changes
) -> None:
    """Each input sent until it succeeds, then again: one of each record, and the faults did hit the writes."""
    world = {"quotes": quotes, "changes": changes}[workflow.fixture]  # both are cheap: in-process sandboxes
    world.box.faults.update(FaultSettings(**FAULTS, seed=seed))
    results, failed = [], 0
    for send in workflow.sends(world):
        result, tries = await until_done(send)
        failed += tries - 1
        results.append(result)
        for _ in range(AGAIN):
            try:
                await send()
            except CwsyncApiError:
                failed += 1
    world.box.faults.update(FaultSettings())
    assert world.transport.lost_writes(), "no write lost its answer: the seed does not test what it should"
    assert failed > 0, "no send failed: the seed does not test what it should"
    workflow.check(world, results)
