"""pyconnectwise (HealthITAU, 0.6.x; generated from ConnectWise's spec) driving the ConnectWise emulator over real
HTTP: paging by its `Link` parser, conditions, create/update/patch, its strict models on every entity cwsync reads,
the forecast POST, and its error classes. pyconnectwise is synchronous (`requests`), so these tests are too.

pyconnectwise hard-codes `https://`; the subclass below points it at the emulator's plain-HTTP loopback address.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyconnectwise import ConnectWiseManageAPIClient
from pyconnectwise.exceptions import AuthenticationFailedException, NotFoundException, ObjectExistsError
from pyconnectwise.models.manage import Company

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.loopback


class LoopbackManageClient(ConnectWiseManageAPIClient):
    """pyconnectwise on a plain-HTTP address (it builds `https://{manage_url}/…` itself)."""

    def __init__(self, base_url: str, settings: SandboxSettings, *, private_key: str | None = None) -> None:
        self.base_url = base_url
        super().__init__(
            settings.company_id,
            base_url.split("//", 1)[1],
            settings.client_id,
            settings.public_key,
            private_key or settings.private_key,
            codebase=settings.codebase,
        )
        self.codebase = settings.codebase  # pyconnectwise 0.6.1.2 keeps a given codebase nowhere

    def _get_url(self) -> str:
        return f"{self.base_url}/{self.codebase.strip('/')}/apis/3.0"


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxSettings(records=600, seed=7)) as running:
        yield running


@pytest.fixture
def client(served: RunningSandbox) -> LoopbackManageClient:
    return LoopbackManageClient(served.base_url, served.sandbox.settings)


def test_paging_follows_the_link_header_to_the_end(client: LoopbackManageClient, served: RunningSandbox) -> None:
    """`.paginated(1, 10).all()` reads every page: pyconnectwise's `page=N>; rel=` parser needs page last."""
    store = served.sandbox.store
    expected = [i for i in store.ids("contacts")]
    assert len(expected) > 30
    pages = client.company.contacts.paginated(1, 10)
    assert pages.has_next_page
    assert pages.next_page == 2
    assert pages.last_page == -(-len(expected) // 10)
    assert [c.id for c in pages.all()] == expected


def test_conditions_and_order_by(client: LoopbackManageClient, served: RunningSandbox) -> None:
    """Conditions filter, orderBy sorts, and paging keeps both."""
    rows = list(
        client.company.companies.paginated(
            1, 5, params={"conditions": "deletedFlag=false and id<=40", "orderBy": "name desc"}
        ).all()
    )
    names = [c.name for c in rows]
    assert names == sorted(names, reverse=True)
    assert {c.id for c in rows} == {
        i
        for i in served.sandbox.store.ids("companies")
        if i <= 40 and not served.sandbox.store.get("companies", i)["deletedFlag"]  # type: ignore[index]
    }


def test_strict_models_parse_every_entity_cwsync_reads(client: LoopbackManageClient) -> None:
    """pyconnectwise's pydantic models (required fields, enums) parse the emulator's records: catalog
    (recurringCycleType), opportunities (closedBy), members (invoicing options), agreement types, tickets, ..."""
    params = {"pageSize": 1000}
    assert client.procurement.catalog.get(params=params)
    recurring = [i for i in client.procurement.catalog.get(params=params) if i.recurring_flag]
    assert recurring
    assert all(i.recurring_bill_cycle is not None and i.recurring_bill_cycle.name for i in recurring)
    assert all(i.recurring_cycle_type in ("ContractYear", "CalendarYear") for i in recurring)
    closed = [o for o in client.sales.opportunities.get(params=params) if o.closed_by is not None]
    assert closed
    assert all(o.closed_by.identifier for o in closed)  # type: ignore[union-attr]
    assert client.system.members.get(params=params)
    assert client.finance.agreements.types.get(params=params)
    for endpoint in (
        client.company.companies,
        client.company.contacts,
        client.company.configurations,
        client.finance.agreements,
        client.service.tickets,
        client.schedule.entries,
        client.time.entries,
    ):
        assert endpoint.get(params={"pageSize": 100})


def test_create_update_patch_and_forecast(client: LoopbackManageClient, served: RunningSandbox) -> None:
    """POST, PUT and PATCH through the typed endpoints; a forecast POST answers a `Forecast` holding the line."""
    made = client.company.companies.post(data={"identifier": "PyCW1", "name": "PyCW One", "city": "Tampa"})
    assert isinstance(made, Company)
    assert made.identifier == "PyCW1"
    patched = client.company.companies.id(made.id).patch(
        data=[{"op": "replace", "path": "phoneNumber", "value": "555-0199"}]
    )
    assert patched.phone_number == "555-0199"
    body = {"identifier": "PyCW1", "name": "PyCW Renamed", "city": "Tampa"}
    assert client.company.companies.id(made.id).put(data=body).name == "PyCW Renamed"
    assert client.company.companies.id(made.id).get().name == "PyCW Renamed"
    opportunity = next(served.sandbox.store.ids("opportunities"))
    line = {"forecastDescription": "PyCW line", "status": {"id": 1}, "forecastType": "Product", "quantity": 2}
    forecast = client.sales.opportunities.id(opportunity).forecast.post(data={"forecastItems": [line]})
    assert "PyCW line" in [i.forecast_description for i in forecast.forecast_items or []]
    ticket = client.service.tickets.post(
        data={"summary": "PyCW", "company": {"id": made.id}, "board": {"name": "Help Desk"}}
    )
    assert ticket.closed_flag is False
    assert ticket.status is not None


def test_errors_map_to_pyconnectwise_exceptions(client: LoopbackManageClient, served: RunningSandbox) -> None:
    """401 → AuthenticationFailedException, 404 → NotFoundException, a duplicate identifier → ObjectExistsError."""
    with pytest.raises(AuthenticationFailedException):
        LoopbackManageClient(served.base_url, served.sandbox.settings, private_key="wrong").company.companies.get()
    with pytest.raises(NotFoundException):
        client.company.companies.id(999_999).get()
    existing = client.company.companies.id(2).get()
    with pytest.raises(ObjectExistsError):
        client.company.companies.post(data={"identifier": existing.identifier, "name": "Dup", "city": "Tampa"})
