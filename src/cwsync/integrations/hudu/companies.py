"""Hudu companies as an engine pair: the parent step of every Hudu run (ConnectWise company → Hudu company).

The pair reads every ConnectWise company not deleted (a full read each run: companies are few, and their links
decide what else is imported), projects each to the Hudu company's details (`shapes.company_details`) and plans
them through `Engine.run` against the `hudu:companies` links. The match decisions (`decisions.py`) are the hooks:
a company with no link is created when its decision is `create`, else skipped with why (no decision yet, left
unmatched); a company of a skipped type is skipped, linked or not; a link a `match` decision made has no synced
base yet, so it is planned against the Hudu company's current details (`stored`); with `update_company_details`
off, linked companies keep the details the link holds (`frozen`); a link whose Hudu company is gone is skipped
with the way back (match it again). Companies a killed run created are found by name (`HuduCompanyTarget.find`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cwsync.config.hudu import HuduSync
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.core.mapping import one_way
from cwsync.engine.pair import Pair, Raw
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.integrations.hudu.decisions import COMPANIES_PAIR
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.shapes import company_details, company_type_names
from cwsync.integrations.hudu.target import HuduCompanyTarget
from cwsync.store import Link

__all__ = ["COMPANY_FIELDS", "DETAILS", "DETAILS_OFF", "company_pair"]

COMPANY_FIELDS = (
    "id,identifier,name,types,status,deletedFlag,addressLine1,addressLine2,city,state,zip,country,phoneNumber,website"
)
DETAILS = tuple(company_details({}))
"""The Hudu company fields cwsync writes."""
DETAILS_OFF = "details changed in ConnectWise; update_company_details is off"
MAPPING = one_way(COMPANIES_PAIR, "companies", "companies", DETAILS)


def company_pair(
    sync: HuduSync,
    cw: ConnectWiseClient,
    target: HuduCompanyTarget,
    *,
    decisions: Mapping[int, Decision],
    links: Mapping[str, Link],
    hudu: Mapping[int, Mapping[str, Any]],
) -> Pair:
    """The companies pair of one run: `decisions` and the company links by ConnectWise id, `hudu` every active Hudu
    company by id."""

    def skip(flat: Mapping[str, Any]) -> str | None:
        skipped = sync.skips_company_type(company_type_names(dict(flat)))
        if skipped is not None:
            return f"company type {skipped!r} is skipped (skip_company_types)"
        if flat.get("deletedFlag"):
            return "deleted in ConnectWise"
        cw_id = str(flat["id"])
        link = links.get(cw_id)
        if link is not None and int(link.right_id) not in hudu:
            return f"the linked Hudu company {link.right_id} no longer exists (or is archived): match it again"
        if link is not None:
            return None
        decision = decisions.get(int(cw_id))
        if decision is None:
            return "no match decision yet (cwsync hudu match)"
        if decision.kind == "unmatched":
            return "left unmatched"
        return None

    def stored(link: Link) -> Link:
        """A link as the planner's base: without the Hudu side's URL; one a match made (no synced details yet) with
        the Hudu company's current details, so only what differs is written."""
        if link.left_values:
            return replace(link, right_values={})
        company = hudu.get(int(link.right_id)) or {}
        current = {k: _text(company.get(k)) for k in DETAILS}
        return replace(link, left_values=current, right_values={})

    return Pair(
        name=COMPANIES_PAIR,
        mapping=MAPPING,
        source=ConnectWiseSource(cw, "company/companies", fields=COMPANY_FIELDS, where=F("deletedFlag") == False),  # noqa: E712
        target=target,
        flatten=_flat,
        project=lambda flat: company_details(dict(flat)),
        skip=skip,
        retire=lambda flat: None,
        batch=25,
        in_flight=4,
        on_delete=sync.on_delete_of("companies"),
        mass_delete_share=sync.mass_delete_share,
        mass_delete_setting="syncs.hudu.mass_delete_share",
        target_label="Hudu",
        deleted_as="archived",
        stored=stored,
        frozen={} if sync.update_company_details else dict.fromkeys(DETAILS, DETAILS_OFF),
    )


def _flat(raw: Raw) -> Mapping[str, Any]:
    return raw


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None
