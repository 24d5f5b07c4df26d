"""Where company-matching decisions live: in the store's links, under a pair of their own.

Why links and not a table or a file: `store/**` belongs to the engine (no new table from this integration), and a
file next to the configuration would not be per tenant, transactional, or shared by several `serve` workers. A link
row is keyed (tenant, pair, left id) and carries JSON, which is all a decision needs:

- pair `hudu:company-decisions`: left id = ConnectWise company id, right id = `"<kind>:<ConnectWise id>"` (right ids
  are unique per pair), `left_values` = `{"kind", "hudu_id", "by", "at"}`;
- pair `hudu:companies`: the sync link proper (ConnectWise company ↔ Hudu company), written here for a match (with the
  Hudu company's URL, so the deep link works before the first sync) and by the sync for a company it creates.

Deciding "unmatched" removes the company link: nothing more of that company is written to Hudu (what is there stays).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cwsync.engine.record import Recorder
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.target import company_values as company_link_values
from cwsync.store import Link, Store

__all__ = ["COMPANIES_PAIR", "DECISIONS_PAIR", "company_link_values", "load_decisions", "save_decisions"]

DECISIONS_PAIR = "hudu:company-decisions"
COMPANIES_PAIR = "hudu:companies"


def _decision_of(link: Link) -> Decision | None:
    values = link.left_values
    try:
        hudu_id = values.get("hudu_id")
        return Decision(
            cw_id=int(link.left_id),
            kind=values["kind"],
            hudu_id=None if hudu_id is None else int(hudu_id),
            by=str(values.get("by", "")),
            at=str(values.get("at", "")),
        )
    except (KeyError, ValueError):
        return None  # a row this version does not understand is treated as "no decision yet"


async def load_decisions(store: Store, tenant: str) -> dict[int, Decision]:
    """Every stored decision, by ConnectWise company id."""
    out: dict[int, Decision] = {}
    async for batch in store.iter_links(tenant, DECISIONS_PAIR):
        for link in batch:
            decision = _decision_of(link)
            if decision is not None:
                out[decision.cw_id] = decision
    return out


async def save_decisions(
    store: Store, tenant: str, decisions: Sequence[Decision], hudu_companies: Mapping[int, Mapping[str, Any]]
) -> list[Decision]:
    """Store decisions (stamped now) and the company links they imply, in one transaction; returns them stamped.

    Raises:
        ValueError: a match names a Hudu company not in `hudu_companies`, or two matches name the same one.
    """
    at = datetime.now(UTC).isoformat(timespec="seconds")
    stamped = [Decision(d.cw_id, d.kind, d.hudu_id, d.by, d.at or at) for d in decisions]
    targets = [d.hudu_id for d in stamped if d.hudu_id is not None]
    if len(targets) != len(set(targets)):
        raise ValueError("two ConnectWise companies cannot be matched to the same Hudu company")
    for d in stamped:
        if d.hudu_id is not None and d.hudu_id not in hudu_companies:
            raise ValueError(f"Hudu company {d.hudu_id} does not exist (or is archived)")
    existing = await store.links_by_left(tenant, COMPANIES_PAIR, [str(d.cw_id) for d in stamped])
    decisions_pair = Recorder(store, tenant, DECISIONS_PAIR, None)
    companies_pair = Recorder(store, tenant, COMPANIES_PAIR, None)
    decision_links = [
        decisions_pair.link(
            str(d.cw_id),
            f"{d.kind}:{d.cw_id}",
            match_key=d.kind,
            left_values={"kind": d.kind, "hudu_id": d.hudu_id, "by": d.by, "at": d.at},
            last_writer=None,
        )
        for d in stamped
    ]
    company_links = [
        companies_pair.link(
            str(d.cw_id),
            str(d.hudu_id),
            match_key=f"decision:{d.by}",
            left_values={},
            right_values=company_link_values(hudu_companies[d.hudu_id]),
            last_writer=None,
        )
        for d in stamped
        if d.hudu_id is not None and _moves(existing.get(str(d.cw_id)), d.hudu_id)
    ]
    dropped = [str(d.cw_id) for d in stamped if d.kind == "unmatched"]
    async with store.transaction() as tx:
        await decisions_pair.record_in(tx, links=decision_links)
        await companies_pair.record_in(tx, links=company_links, dropped=dropped)
    return stamped


def _moves(link: Link | None, hudu_id: int) -> bool:
    """Whether a match changes the company link (re-deciding the same match keeps the synced base)."""
    return link is None or link.right_id != str(hudu_id)
