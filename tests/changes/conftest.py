"""The change workflow on the ConnectWise sandbox served over loopback, with its own tickets and members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cwsync.config.changes import ChangesConfig
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import RetryPolicy
from cwsync.store import Store
from cwsync.workflows.changes.workflow import ChangeWorkflow
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

COMPANY = "LighthouseLegal5"  # company 5 of the seed-7 sandbox
OTHER_COMPANY = "MesaRealty8"
PEOPLE = {
    "alice": ("alice.admin", "Alice", "Admin", "alice@msp.example"),
    "bob": ("bob.tech", "Bob", "Tech", "Bob.Tech@msp.example"),
    "carol": ("carol.ops", "Carol", "Ops", "carol@msp.example"),
    "dan": ("dan.eng", "Dan", "Engineer", "dan@msp.example"),
}
OUTSIDER = "olga@customer.example"  # not a ConnectWise member

HELP_DESK = {
    "created": "Assigned",
    "fully_approved": "Waiting on Client",
    "scheduled": "Scheduled",
    "implementation_started": "In Progress",
    "completed": "Completed",
    "cancelled": "Closed",
}
PROJECTS = {
    "created": "New",
    "fully_approved": "Planning",
    "scheduled": "Planning",
    "implementation_started": "In Progress",
    "completed": "Completed",
    "cancelled": "On Hold",
}


def changes_config(**overrides: Any) -> dict[str, Any]:
    """The `changes:` section the tests use (as plain data, as it would come from YAML)."""
    section: dict[str, Any] = {
        "companies": {
            "lighthouse": {"connectwise": COMPANY, "boards": ["Help Desk", "Projects"]},
            "mesa": {"connectwise": 8},
        },
        "boards": ["Help Desk"],
        "statuses": HELP_DESK,
        "board_statuses": {"Projects": PROJECTS},
        "notes": {"change_url": "https://changes.example/c/{change_id}"},
    }
    return section | overrides


async def _no_sleep(_: float) -> None:
    return None


def client_for(served: RunningSandbox) -> ConnectWiseClient:
    """A client on the served sandbox (real HTTP on loopback)."""
    s = served.sandbox.settings
    settings = ConnectWiseSettings(
        site=served.base_url,
        company_id=s.company_id,
        public_key=s.public_key,
        private_key=s.private_key,
        client_id=s.client_id,
        requests_per_minute=None,
    )
    return ConnectWiseClient(settings, sleep=_no_sleep, retry=RetryPolicy(attempts=6, base=0.01, cap=0.05))


@dataclass
class World:
    """The sandbox, a client and a store, the workflow, and the records the tests made."""

    box: Sandbox
    served: RunningSandbox
    cw: ConnectWiseClient
    store: Store
    workflow: ChangeWorkflow
    members: dict[str, int]
    tickets: dict[str, int]
    statuses: dict[str, dict[str, int]]

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        """The ticket as ConnectWise has it."""
        return await self.cw.get("service/tickets", ticket_id)

    async def status(self, ticket_id: int) -> str:
        """The ticket's status name."""
        return str((await self.ticket(ticket_id))["status"]["name"])

    async def notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's notes, oldest first."""
        return [r async for r in self.cw.stream_records(f"service/tickets/{ticket_id}/notes")]

    async def entries(self, ticket_id: int) -> list[dict[str, Any]]:
        """The schedule entries on the ticket."""
        return [r async for r in self.cw.stream_records("schedule/entries", conditions=F("objectId") == ticket_id)]

    async def time_entries(self, ticket_id: int) -> list[dict[str, Any]]:
        """The time entries charged to the ticket."""
        cond = (F("chargeToId") == ticket_id) & (F("chargeToType") == "ServiceTicket")
        return [r async for r in self.cw.stream_records("time/entries", conditions=cond)]

    def write_count(self) -> int:
        """How many records the sandbox holds that were written through the API (its overlay)."""
        return sum(len(layer) for layer in self.box.store.overlay.values())


@pytest.fixture
def served_cw() -> Iterator[RunningSandbox]:
    """The seed-7 sandbox served by uvicorn on 127.0.0.1."""
    with running_sandbox(SandboxSettings(records=600, seed=7)) as running:
        yield running


async def _board_statuses(cw: ConnectWiseClient) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    async for board in cw.stream_records("service/boards"):
        rows = [r async for r in cw.stream_records(f"service/boards/{board['id']}/statuses")]
        out[board["name"]] = {r["name"]: r["id"] for r in rows} | {"_board": board["id"]}
    return out


async def _new_ticket(cw: ConnectWiseClient, statuses: dict[str, dict[str, int]], company: int, board: str) -> int:
    body = {
        "summary": f"Firewall upgrade ({board})",
        "company": {"id": company},
        "board": {"id": statuses[board]["_board"]},
        "status": {"id": statuses[board]["New"]},
        "closedFlag": False,  # ConnectWise sets it on every ticket; the sandbox keeps what a POST gives
    }
    return int((await cw.create("service/tickets", body))["id"])


@pytest.fixture
async def world(served_cw: RunningSandbox, tmp_path: Path) -> AsyncIterator[World]:
    """Members and tickets made through the API, a fresh store, and a started workflow."""
    async with client_for(served_cw) as cw:
        members = {}
        for key, (identifier, first, last, email) in PEOPLE.items():
            body = {"identifier": identifier, "firstName": first, "lastName": last, "primaryEmail": email}
            body["inactiveFlag"] = False
            members[key] = int((await cw.create("system/members", body))["id"])
        statuses = await _board_statuses(cw)
        tickets = {
            "help_desk": await _new_ticket(cw, statuses, 5, "Help Desk"),
            "projects": await _new_ticket(cw, statuses, 5, "Projects"),
            "alerts": await _new_ticket(cw, statuses, 5, "Alerts"),
            "other_company": await _new_ticket(cw, statuses, 8, "Help Desk"),
        }
        store = await Store.open(f"sqlite:///{tmp_path / 'changes.db'}")
        try:
            config = ChangesConfig.model_validate(changes_config())
            workflow = await ChangeWorkflow.start(client=cw, store=store, config=config, tenant="default")
            yield World(served_cw.sandbox, served_cw, cw, store, workflow, members, tickets, statuses)
        finally:
            await store.close()
