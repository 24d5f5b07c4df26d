"""The README tour's examples, written into a sandbox's overlay as if made through the API (before it serves).

`cwsync sandbox serve` adds them (unless `--no-examples`), so every tour command works against a fresh sandbox:

- the company `Acme` ("Acme Dental Group", the Hudu sandbox's first company), with a `Main` site, the contact
  `jane@acme.example` and a `server01` configuration (`examples/quote.json` quotes for them);
- the member `ann@msp.example` (the change creator in `cwsync changes link`);
- ticket **1234**, "Core switch replacement", on the Help Desk board, status New, for Acme (the ticket the tour
  links a change to). A sandbox with fewer tickets gets it as its next ticket id set to 1234; a larger one has its
  generated ticket 1234 replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cwsync_sandbox.connectwise.resources import BY_ENTITY
from cwsync_sandbox.connectwise.state import Store

__all__ = ["TOUR", "TourExamples", "add_tour_examples"]

_MEMBER = "tour"


@dataclass(frozen=True)
class TourExamples:
    """The names the README tour uses."""

    company: str = "Acme"
    company_name: str = "Acme Dental Group"
    contact_email: str = "jane@acme.example"
    member_email: str = "ann@msp.example"
    ticket_id: int = 1234
    ticket_summary: str = "Core switch replacement"
    configuration: str = "server01"


TOUR = TourExamples()


def _create(store: Store, entity: str, body: dict[str, Any], parent_id: int | None = None) -> dict[str, Any]:
    return store.create(BY_ENTITY[entity], body, member=_MEMBER, parent_id=parent_id)


def _first_id(store: Store, entity: str, name: str) -> int:
    """The id of the lookup record called `name` (the seeded tables always hold it)."""
    for record_id in store.ids(entity):
        record = store.get(entity, record_id)
        if record is not None and str(record.get("name") or record.get("description")) == name:
            return record_id
    raise LookupError(f"the sandbox has no {entity} record {name!r}")


def add_tour_examples(store: Store, tour: TourExamples = TOUR) -> dict[str, int]:
    """Write the tour's records; returns their ids by kind. Idempotent: a store that has them is left alone."""
    existing = store._unique_index(BY_ENTITY["companies"]).get(tour.company.lower())
    if existing:
        return {"company": existing, "ticket": tour.ticket_id}
    company = _create(
        store,
        "companies",
        {
            "identifier": tour.company,
            "name": tour.company_name,
            "status": {"id": _first_id(store, "company_statuses", "Active")},
            "types": [{"id": _first_id(store, "company_types", "Customer")}],
            "addressLine1": "12 Harbour Road",
            "city": "Portsmouth",
            "state": "NH",
            "zip": "03801",
            "phoneNumber": "6035550101",
            "website": "www.acmedental.example",
        },
    )
    site = _create(
        store, "sites", {"name": "Main", "addressLine1": "12 Harbour Road", "city": "Portsmouth"}, company["id"]
    )
    contact = _create(
        store,
        "contacts",
        {
            "firstName": "Jane",
            "lastName": "Harper",
            "title": "Office Manager",
            "company": {"id": company["id"]},
            "site": {"id": site["id"]},
            "inactiveFlag": False,
            "communicationItems": [
                {
                    "type": {"id": 1, "name": "Email"},
                    "value": tour.contact_email,
                    "defaultFlag": True,
                    "communicationType": "Email",
                }
            ],
        },
    )
    member = _create(
        store,
        "members",
        {
            "identifier": "ann",
            "firstName": "Ann",
            "lastName": "Tour",
            "primaryEmail": tour.member_email,
            "inactiveFlag": False,
        },
    )
    configuration = _create(
        store,
        "configurations",
        {
            "name": tour.configuration,
            "type": {"id": _first_id(store, "configuration_types", "Managed Server")},
            "company": {"id": company["id"]},
            "site": {"id": site["id"]},
            "serialNumber": "TOUR-SRV-0001",
            "activeFlag": True,
        },
    )
    board = _first_id(store, "boards", "Help Desk")
    ticket = {
        "summary": tour.ticket_summary,
        "company": {"id": company["id"]},
        "contact": {"id": contact["id"]},
        "board": {"id": board},
        "status": {"id": _board_status(store, board, "New")},
        "closedFlag": False,
    }
    if store.get("tickets", tour.ticket_id) is not None:
        store.replace(BY_ENTITY["tickets"], tour.ticket_id, ticket, member=_MEMBER)
    else:
        store.next_ids["tickets"] = max(store.next_ids.get("tickets", 0), tour.ticket_id - 1)
        made = _create(store, "tickets", ticket)
        if made["id"] != tour.ticket_id:  # pragma: no cover - the allocation above makes it so
            raise RuntimeError(f"the tour ticket got id {made['id']}, not {tour.ticket_id}")
    return {
        "company": company["id"],
        "site": site["id"],
        "contact": contact["id"],
        "member": member["id"],
        "configuration": configuration["id"],
        "ticket": tour.ticket_id,
    }


def _board_status(store: Store, board_id: int, name: str) -> int:
    for record_id in store.ids("board_statuses", parent_id=board_id):
        record = store.get("board_statuses", record_id)
        if record is not None and record.get("name") == name:
            return record_id
    raise LookupError(f"board {board_id} has no status {name!r}")
